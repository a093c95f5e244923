-- Any actor is stored: a user id, or issuer#sub for an external (JWT_TRUSTED_ISSUERS) principal.
ALTER TABLE "audit_log" ALTER COLUMN "actor_id" SET DATA TYPE text;--> statement-breakpoint
-- Rows written before the chain was keyed stay verifiable as plain SHA-256 (a prefix of the chain).
ALTER TABLE "audit_log" ADD COLUMN "keyed" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "audit_log" ALTER COLUMN "keyed" SET DEFAULT true;--> statement-breakpoint
-- (TRUNCATE is refused since 0004_audit_no_truncate.)
ALTER TABLE "auth_sessions" ADD COLUMN "auth_time" timestamp with time zone DEFAULT now() NOT NULL;--> statement-breakpoint
-- Existing sessions signed in when they were created, not when this migration ran.
UPDATE "auth_sessions" SET "auth_time" = "created_at";--> statement-breakpoint
ALTER TABLE "refresh_tokens" ADD COLUMN "used_by" text;--> statement-breakpoint
-- Never read: every access token carries its session, and revoking sessions is the one mechanism.
ALTER TABLE "users" DROP COLUMN "tokens_valid_after";
