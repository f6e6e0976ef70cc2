// Checks of a JSON configuration's values, each reporting what is wrong with the value's JSON
// path and what was expected: the building blocks of cli/ftps_config.ts's table of keys.

import { resolve } from "node:path";
import { canonicalFtpHost } from "../codec/mod.ts";
import { didYouMean, notNetwork } from "./args.ts";

/** Where a check reports a mistake: the JSON path of the value, and what was expected. */
export type Report = (path: string, message: string) => void;

/**
 * Checks a value of the file at `path`: returns the setting, or reports what is wrong and
 * returns undefined. `base` is the file's directory, which relative paths are resolved against.
 */
export type Check<T> = (
  value: unknown,
  path: string,
  report: Report,
  base: string,
) => T | undefined;

/** What a value is, for a message: `42`, `"text"`, `true`, `null`, `a list`, `an object`. */
export function shown(value: unknown): string {
  if (Array.isArray(value)) return "a list";
  if (value === null) return "null";
  if (typeof value === "object") return "an object";
  if (typeof value === "string") {
    return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value);
  }
  return String(value);
}

/** A check that takes values `accepts` allows, else reports `expected ${expects}, got ...`. */
export function simple<T>(expects: string, accepts: (value: unknown) => value is T): Check<T> {
  return (value, path, report) => {
    if (accepts(value)) return value;
    report(path, `expected ${expects}, got ${shown(value)}`);
    return undefined;
  };
}

const isBoolean = (value: unknown): value is boolean => typeof value === "boolean";

export const boolean: Check<boolean> = simple("true or false", isBoolean);

/** A whole number from `min` to `max`. */
export function whole(min: number, max: number, unit = ""): Check<number> {
  const expects = max === Number.MAX_SAFE_INTEGER
    ? `a whole number${unit} of at least ${min}`
    : `a whole number${unit} from ${min} to ${max}`;
  return simple(
    expects,
    (value): value is number =>
      Number.isSafeInteger(value) && (value as number) >= min && (value as number) <= max,
  );
}

/** A time in ms, 1 or more (at most about 24 days: what a timer can wait). */
export const milliseconds: Check<number> = whole(1, 2 ** 31 - 1, " of ms");
export const count: Check<number> = whole(1, Number.MAX_SAFE_INTEGER);

/** A path, resolved against the file's directory; `what` says what it names. */
export function path(what: string): Check<string> {
  return (value, at, report, base) => {
    if (typeof value === "string" && value !== "" && !value.includes("\0")) {
      return resolve(base, value);
    }
    report(at, `expected a string (${what}), got ${shown(value)}`);
    return undefined;
  };
}

/** An IP address (`ipv4`: an IPv4 one). */
export function address(ipv4 = false): Check<string> {
  const expects = ipv4 ? "an IPv4 address" : "an IP address";
  return simple(expects, (value): value is string => {
    if (typeof value !== "string") return false;
    const canonical = canonicalFtpHost(value);
    return canonical !== undefined && (!ipv4 || !canonical.includes(":"));
  });
}

/** `[LOW, HIGH]` or `"LOW-HIGH"`: two ports from 1 to 65535, LOW <= HIGH. */
export const portPair: Check<[number, number]> = (value, at, report) => {
  const pair = typeof value === "string"
    ? value.match(/^(\d{1,5})-(\d{1,5})$/)?.slice(1).map(Number)
    : Array.isArray(value) && value.length === 2
    ? value
    : undefined;
  const [low, high] = pair ?? [];
  if (
    Number.isSafeInteger(low) && Number.isSafeInteger(high) && low >= 1 && high <= 65535 &&
    low <= high
  ) {
    return [low, high];
  }
  report(at, `expected [LOW, HIGH] or "LOW-HIGH", ports from 1 to 65535, got ${shown(value)}`);
  return undefined;
};

/** "unknown key", with the key meant, or else the keys there are. */
export function unknownKey(name: string, names: readonly string[]): string {
  return `unknown key${didYouMean(name, names) || ` (the keys here: ${names.join(", ")})`}`;
}

/** An object whose keys are checked by `keys`; unknown keys are reported with a suggestion. */
export function object<T extends object>(
  keys: { readonly [K in keyof T]-?: Check<T[K]> },
  required: readonly (keyof T)[] = [],
): Check<T> {
  return (value, at, report, base) => {
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      report(at, `expected an object, got ${shown(value)}`);
      return undefined;
    }
    const names = Object.keys(keys);
    const result: Record<string, unknown> = {};
    let ok = true;
    for (const [name, item] of Object.entries(value)) {
      const where = `${at}.${name}`;
      if (!Object.hasOwn(keys, name)) {
        report(where, unknownKey(name, names));
        ok = false;
        continue;
      }
      const checked = (keys as Record<string, Check<unknown>>)[name](item, where, report, base);
      if (checked === undefined) ok = false;
      else result[name] = checked;
    }
    for (const name of required) {
      if (!Object.hasOwn(value, name)) {
        report(`${at}.${String(name)}`, "missing");
        ok = false;
      }
    }
    return ok ? result as T : undefined;
  };
}

/** IP networks (CIDR) or addresses, as a list. */
export const networkList: Check<string[]> = (value, at, report) => {
  if (!Array.isArray(value) || value.length === 0) {
    report(at, `expected a list of IP networks (such as "10.0.0.0/8"), got ${shown(value)}`);
    return undefined;
  }
  let ok = true;
  value.forEach((item, index) => {
    const why = typeof item === "string" ? notNetwork(item) : `got ${shown(item)}`;
    if (why) {
      report(`${at}[${index}]`, `expected an IP network: ${why}`);
      ok = false;
    }
  });
  return ok ? value as string[] : undefined;
};
