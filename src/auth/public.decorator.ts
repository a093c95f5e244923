import { SetMetadata } from '@nestjs/common';

export const IS_PUBLIC_KEY = 'keyward:isPublic';

/** The only way out of the global authentication guard (deny by default). */
export const Public = () => SetMetadata(IS_PUBLIC_KEY, true);
