/**
 * class-validator, from its own files: every DTO imports its decorators from here, and the
 * global pipe validates with `classValidatorPackage`. class-validator's index loads every
 * decorator it has, with `validator`'s 113 modules and `libphonenumber-js` (~3.3 MiB of heap
 * in an idle server); these files load only what Keyward uses (docs/runtime.md, "Memory and
 * start"). ESLint refuses an import of the index (eslint.config.mjs); a decorator not listed
 * here is added here, from its file under `class-validator/cjs/decorator/`. The types come
 * from the package's `types/` folder (tsconfig.json `paths`).
 */
import { getFromContainer } from 'class-validator/cjs/container';
import { getMetadataStorage } from 'class-validator/cjs/metadata/MetadataStorage';
import type { ValidatorOptions } from 'class-validator/cjs/validation/ValidatorOptions';
import { Validator } from 'class-validator/cjs/validation/Validator';

export { ArrayMaxSize } from 'class-validator/cjs/decorator/array/ArrayMaxSize';
export { ArrayMinSize } from 'class-validator/cjs/decorator/array/ArrayMinSize';
export { ArrayUnique } from 'class-validator/cjs/decorator/array/ArrayUnique';
export { IsIn } from 'class-validator/cjs/decorator/common/IsIn';
export { IsOptional } from 'class-validator/cjs/decorator/common/IsOptional';
export { ValidateNested } from 'class-validator/cjs/decorator/common/ValidateNested';
export { Max } from 'class-validator/cjs/decorator/number/Max';
export { Min } from 'class-validator/cjs/decorator/number/Min';
export { IsDateString } from 'class-validator/cjs/decorator/string/IsDateString';
export { IsISO8601 } from 'class-validator/cjs/decorator/string/IsISO8601';
export { IsUUID } from 'class-validator/cjs/decorator/string/IsUUID';
export { Matches } from 'class-validator/cjs/decorator/string/Matches';
export { MaxLength } from 'class-validator/cjs/decorator/string/MaxLength';
export { MinLength } from 'class-validator/cjs/decorator/string/MinLength';
export { IsArray } from 'class-validator/cjs/decorator/typechecker/IsArray';
export { IsBoolean } from 'class-validator/cjs/decorator/typechecker/IsBoolean';
export { IsInt } from 'class-validator/cjs/decorator/typechecker/IsInt';
export { IsNumber } from 'class-validator/cjs/decorator/typechecker/IsNumber';
export { IsString } from 'class-validator/cjs/decorator/typechecker/IsString';
export type { ValidationError } from 'class-validator/cjs/validation/ValidationError';

/**
 * What Nest's `ValidationPipe` needs of class-validator (its `validatorPackage` option): the
 * index's `validate` (the container's `Validator`) and the metadata storage the pipe reads
 * to refuse binary values in nested objects. Without the option the pipe imports the index.
 */
export const classValidatorPackage = {
  validate: (object: object, options?: ValidatorOptions) =>
    getFromContainer(Validator).validate(object, options),
  getMetadataStorage,
};
