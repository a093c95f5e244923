/**
 * Route config (`@RouteConfig(FORM_BODY_ROUTE)`): this route also takes
 * `application/x-www-form-urlencoded` bodies. Every other route answers a form with 415, so
 * a cross-site HTML form cannot reach a JSON route.
 */
export const FORM_BODY_ROUTE = { acceptsForm: true } as const;
