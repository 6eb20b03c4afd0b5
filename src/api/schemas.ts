import { Type } from '@fastify/type-provider-typebox';

/** A site code, package id or similar short name; the handler checks its exact form. */
export const Code = Type.String({ minLength: 1, maxLength: 16 });

/** `parse(value)`, or undefined when the optional field is absent. */
export function optional<T>(value: string | undefined, parse: (value: string) => T): T | undefined {
  return value === undefined ? undefined : parse(value);
}
