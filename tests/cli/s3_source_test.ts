// The s3:// sources of the servers: the URL read, the AWS CLI's INI files, and where the bucket
// is and who signs found from the flags, the AWS_* variables and the shared files, in the AWS
// CLI's order; with a temporary home directory and an environment of the test's own, no network.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  checkS3Reachable,
  parseAwsIni,
  parseS3Url,
  prefixUnder,
  resolveS3,
  type S3Choices,
  type S3Location,
} from "../../cli/_s3.ts";
import { UsageError } from "../../cli/args.ts";
import { CliError } from "../../cli/errors.ts";
import { S3Error } from "../../io/s3/client.ts";
import { tempDir } from "../interop/_peers.ts";

const SECRET = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYSECRET";
const FILE_SECRET = "fileSecretKey-9f8e7d6c5b4a";
const BUCKET: S3Location = { bucket: "files", prefix: "ftp" };

/** The message a usage error carries, checked to hold no secret. */
async function refusal(work: Promise<unknown>): Promise<string> {
  try {
    await work;
  } catch (error) {
    assert.ok(error instanceof UsageError, String(error));
    for (const secret of [SECRET, FILE_SECRET]) assert.ok(!error.message.includes(secret));
    return error.message;
  }
  assert.fail("resolved");
}

describe("s3:// URLs", () => {
  test("a bucket, and a prefix without slashes at its ends", () => {
    assert.deepEqual(parseS3Url("s3://files"), { bucket: "files", prefix: "" });
    assert.deepEqual(parseS3Url("s3://files/"), { bucket: "files", prefix: "" });
    assert.deepEqual(parseS3Url("s3://my.files-1/ftp/pub/"), {
      bucket: "my.files-1",
      prefix: "ftp/pub",
    });
  });

  test("what is not one is a usage error that says why, never repeating credentials", () => {
    const why = (url: string) => {
      try {
        parseS3Url(url, "--storage");
      } catch (error) {
        assert.ok(error instanceof UsageError);
        return error.message;
      }
      assert.fail(url);
    };
    assert.equal(
      why("/srv/ftp"),
      "--storage: '/srv/ftp' is not an s3:// URL (s3://BUCKET[/PREFIX])",
    );
    assert.equal(why("s3://"), "--storage: 's3://' names no bucket (s3://BUCKET[/PREFIX])");
    assert.match(why("s3://ab/x"), /'ab' is not a bucket name \(3 to 255/);
    assert.match(why("s3://b_ad!/x"), /'b_ad!' is not a bucket name/);
    assert.match(why("s3://files/a/../b"), /each part of a prefix is a name/);
    assert.match(why("s3://files/a//b"), /each part of a prefix is a name/);
    const secret = why(`s3://AKIDEXAMPLE:${SECRET}@files/ftp`);
    assert.match(secret, /holds no credentials/);
    assert.ok(!secret.includes(SECRET) && !secret.includes("AKIDEXAMPLE"), secret);
  });

  test("a user's root is a prefix under the bucket's", () => {
    assert.equal(prefixUnder("ftp", "fred"), "ftp/fred");
    assert.equal(prefixUnder("ftp", "/home/fred/"), "ftp/home/fred");
    assert.equal(prefixUnder("", "fred"), "fred");
    assert.equal(prefixUnder("ftp", ""), "ftp");
    assert.equal(prefixUnder("ftp", "/"), "ftp");
    assert.equal(prefixUnder("ftp", "../other"), undefined);
    assert.equal(prefixUnder("ftp", "a\\b"), undefined);
  });
});

describe("the AWS CLI's INI files", () => {
  test("sections, keys in lower case, comments, both separators, CRLF and the s3 block", () => {
    const ini = parseAwsIni(
      [
        "# a comment",
        "; another",
        "[default]",
        "Region = eu-west-1",
        "output: json",
        "",
        "[profile   dev]",
        "s3 =",
        "  addressing_style = path",
        "  max_concurrent_requests = 4",
        "endpoint_url = http://127.0.0.1:8080",
        "  stray = indented under a key with a value",
        "[broken",
        "lost = 1",
        "[default]",
        "extra = merged",
      ].join("\r\n"),
    );
    assert.deepEqual([...ini.keys()], ["default", "profile dev"]);
    assert.deepEqual(
      Object.fromEntries(ini.get("default")!),
      { region: "eu-west-1", output: "json", extra: "merged" },
    );
    assert.deepEqual(Object.fromEntries(ini.get("profile dev")!), {
      s3: "",
      "s3.addressing_style": "path",
      "s3.max_concurrent_requests": "4",
      endpoint_url: "http://127.0.0.1:8080",
    });
  });
});

describe("where the bucket is and who signs", () => {
  let home: string;
  let cleanup: () => Promise<void>;
  const credentials = () => join(home, ".aws", "credentials");
  const config = () => join(home, ".aws", "config");
  /** Writes the two shared files (absent when undefined). */
  const files = async (credentialsText?: string, configText?: string) => {
    await rm(join(home, ".aws"), { recursive: true, force: true });
    await mkdir(join(home, ".aws"));
    if (credentialsText !== undefined) await writeFile(credentials(), credentialsText);
    if (configText !== undefined) await writeFile(config(), configText);
  };
  const resolve = (
    env: Record<string, string>,
    choices: S3Choices = {},
    location: S3Location = BUCKET,
  ) => resolveS3(location, choices, { env: { HOME: home, ...env } });
  const envKeys = { AWS_ACCESS_KEY_ID: "AKIDENV", AWS_SECRET_ACCESS_KEY: SECRET };

  before(async () => {
    ({ path: home, remove: cleanup } = await tempDir("ftkit-s3-home-"));
  });
  after(async () => await cleanup());

  test("the environment's keys; AWS's endpoint for us-east-1 by default", async () => {
    await files();
    const s3 = await resolve({ ...envKeys, AWS_SESSION_TOKEN: "token" });
    assert.deepEqual(s3, {
      options: {
        bucket: "files",
        region: "us-east-1",
        credentials: { accessKeyId: "AKIDENV", secretAccessKey: SECRET, sessionToken: "token" },
      },
      prefix: "ftp",
      url: "s3://files/ftp",
      at: "https://s3.us-east-1.amazonaws.com",
    });
    const whole = await resolve(envKeys, { partSize: 8388608 }, { bucket: "files", prefix: "" });
    assert.equal(whole.url, "s3://files");
    assert.equal(whole.partSize, 8388608);
  });

  test("else the credentials file's profile, with the config file's region and endpoint", async () => {
    await files(
      `[default]\naws_access_key_id = AKIDFILE\naws_secret_access_key = ${FILE_SECRET}\n`,
      "[default]\nregion = eu-central-1\nendpoint_url = http://127.0.0.1:8080/\n",
    );
    const s3 = await resolve({});
    assert.deepEqual(s3.options, {
      bucket: "files",
      region: "eu-central-1",
      endpoint: "http://127.0.0.1:8080/",
      credentials: { accessKeyId: "AKIDFILE", secretAccessKey: FILE_SECRET },
    });
    assert.equal(s3.at, "http://127.0.0.1:8080");
    // Empty variables count as none.
    assert.equal(
      (await resolve({ AWS_ACCESS_KEY_ID: "", AWS_REGION: "" })).options.region,
      "eu-central-1",
    );
  });

  test("AWS_PROFILE picks [NAME] and [profile NAME]; a named profile beats the variables' keys", async () => {
    await files(
      [
        `[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = ${FILE_SECRET}`,
        `[dev]\naws_access_key_id = AKIDDEV\naws_secret_access_key = ${FILE_SECRET}`,
        "aws_session_token = devtoken",
      ].join("\n"),
      "[default]\nregion = eu-west-1\n[profile dev]\nregion = ap-south-1\ns3 =\n  addressing_style = path\n",
    );
    const dev = await resolve({ AWS_PROFILE: "dev" });
    assert.equal(dev.options.credentials.accessKeyId, "AKIDDEV");
    assert.equal(dev.options.credentials.sessionToken, "devtoken");
    assert.equal(dev.options.region, "ap-south-1");
    assert.equal(dev.options.pathStyle, true);
    // With AWS_PROFILE the variables' keys still win (as the AWS CLI's chain has them first) ...
    assert.equal(
      (await resolve({ ...envKeys, AWS_PROFILE: "dev" })).options.credentials.accessKeyId,
      "AKIDENV",
    );
    // ... but a profile chosen on the command line is read instead, as `aws --profile` does.
    const chosen = await resolve(envKeys, { profile: "dev" });
    assert.equal(chosen.options.credentials.accessKeyId, "AKIDDEV");
    // A choice of path style wins over the profile's.
    assert.equal(
      (await resolve({ AWS_PROFILE: "dev" }, { pathStyle: false })).options.pathStyle,
      false,
    );
  });

  test("the config file's keys when the credentials file has none; files moved by variables", async () => {
    await files(undefined, undefined);
    const elsewhere = join(home, "elsewhere");
    await mkdir(elsewhere, { recursive: true });
    await writeFile(
      join(elsewhere, "conf"),
      `[profile ops]\naws_access_key_id = AKIDCONF\naws_secret_access_key = ${FILE_SECRET}\n`,
    );
    await writeFile(join(elsewhere, "creds"), "[ops]\nregion = ignored-here\n");
    const s3 = await resolve({
      AWS_PROFILE: "ops",
      AWS_CONFIG_FILE: "~/elsewhere/conf",
      AWS_SHARED_CREDENTIALS_FILE: join(elsewhere, "creds"),
    });
    assert.equal(s3.options.credentials.accessKeyId, "AKIDCONF");
    assert.equal(s3.options.region, "us-east-1");
  });

  test("the region: flag, AWS_REGION, AWS_DEFAULT_REGION, the profile's, us-east-1", async () => {
    await files(undefined, "[default]\nregion = from-config\n");
    const region = async (env: Record<string, string>, choices: S3Choices = {}) =>
      (await resolve({ ...envKeys, ...env }, choices)).options.region;
    const all = { AWS_REGION: "from-region", AWS_DEFAULT_REGION: "from-default" };
    assert.equal(await region(all, { region: "from-flag" }), "from-flag");
    assert.equal(await region(all), "from-region");
    assert.equal(await region({ AWS_DEFAULT_REGION: "from-default" }), "from-default");
    assert.equal(await region({}), "from-config");
    await files();
    assert.equal(await region({}), "us-east-1");
  });

  test("the endpoint: flag, AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, the profile's, AWS's", async () => {
    await files(undefined, "[default]\nendpoint_url = http://config.test:1\n");
    const endpoint = async (env: Record<string, string>, choices: S3Choices = {}) =>
      (await resolve({ ...envKeys, ...env }, choices)).options.endpoint;
    const all = {
      AWS_ENDPOINT_URL_S3: "http://s3-variable.test:2",
      AWS_ENDPOINT_URL: "http://variable.test:3",
    };
    assert.equal(await endpoint(all, { endpoint: "http://flag.test:4" }), "http://flag.test:4");
    assert.equal(await endpoint(all), "http://s3-variable.test:2");
    assert.equal(
      await endpoint({ AWS_ENDPOINT_URL: "http://variable.test:3" }),
      "http://variable.test:3",
    );
    assert.equal(await endpoint({}), "http://config.test:1");
    // AWS_IGNORE_CONFIGURED_ENDPOINT_URLS drops all but the flag.
    const ignore = { ...all, AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: "true" };
    assert.equal(await endpoint(ignore), undefined);
    assert.equal(await endpoint(ignore, { endpoint: "http://flag.test:4" }), "http://flag.test:4");
    await files();
    const aws = await resolve({ ...envKeys, AWS_REGION: "eu-west-3" });
    assert.equal(aws.options.endpoint, undefined);
    assert.equal(aws.at, "https://s3.eu-west-3.amazonaws.com");
  });

  test("no keys: a usage error that names the variables and files read, and no secret", async () => {
    await files("[other]\naws_access_key_id = A\naws_secret_access_key = B\n", "[default]\n");
    assert.equal(
      await refusal(resolve({})),
      "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or give " +
        `aws_access_key_id and aws_secret_access_key to the profile 'default' in ${credentials()} ` +
        `(or ${config()}, also read)`,
    );
    // No files at all: the same, with their names.
    await rm(join(home, ".aws"), { recursive: true, force: true });
    assert.match(await refusal(resolve({})), /^no S3 credentials: set AWS_ACCESS_KEY_ID/);
    await files("[other]\naws_access_key_id = A\naws_secret_access_key = B\n");
    assert.match(
      await refusal(resolve(envKeys, { profile: "other2" })),
      /^the AWS profile 'other2' is in neither .*credentials nor .*config$/,
    );
    await files("[dev]\nregion = x\n");
    assert.match(
      await refusal(resolve(envKeys, { profile: "dev" })),
      /^no S3 credentials: give aws_access_key_id and aws_secret_access_key to the profile 'dev'/,
    );
  });

  test("half a pair, a bad region or endpoint: usage errors naming where, never the secret", async () => {
    await files(
      `[default]\naws_secret_access_key = ${FILE_SECRET}\n`,
      "[default]\nregion = not a region\n",
    );
    assert.equal(
      await refusal(resolve({ AWS_SECRET_ACCESS_KEY: SECRET })),
      "the environment: AWS_SECRET_ACCESS_KEY is set without AWS_ACCESS_KEY_ID",
    );
    assert.equal(
      await refusal(resolve({})),
      `${credentials()} [default]: aws_secret_access_key is set without aws_access_key_id`,
    );
    assert.equal(
      await refusal(resolve(envKeys)),
      `${config()} [default] region takes a region name, such as us-east-1, not 'not a region'`,
    );
    await files();
    assert.equal(
      await refusal(resolve({ ...envKeys, AWS_ENDPOINT_URL: "ftp://127.0.0.1" })),
      "AWS_ENDPOINT_URL takes an http:// or https:// URL (no user, password, query or fragment), " +
        "not 'ftp://127.0.0.1'",
    );
    const withUser = await refusal(
      resolve({ ...envKeys, AWS_ENDPOINT_URL_S3: `http://AKID:${SECRET}@127.0.0.1:8080` }),
    );
    assert.match(withUser, /^AWS_ENDPOINT_URL_S3 takes .*, not a URL with a user or password$/);
    assert.match(
      await refusal(resolve({ ...envKeys, AWS_PROFILE: "a b" })),
      /^AWS_PROFILE takes a profile name/,
    );
  });
});

describe("the bucket asked once before serving", () => {
  const s3 = {
    options: {
      bucket: "files",
      region: "us-east-1",
      endpoint: "http://127.0.0.1:1",
      credentials: { accessKeyId: "AKID", secretAccessKey: SECRET },
    },
    prefix: "ftp",
    url: "s3://files/ftp",
    at: "http://127.0.0.1:1",
  };

  test("one listing of one key under the prefix", async () => {
    const asked: unknown[] = [];
    await checkS3Reachable(s3, {
      list: (prefix, options) => {
        asked.push([prefix, options]);
        return Promise.resolve({ prefixes: [], objects: [] });
      },
    });
    assert.deepEqual(asked, [["ftp/", { maxKeys: 1 }]]);
  });

  test("a store that fails is one line: the bucket, the endpoint and the store's answer", async () => {
    const failing = (error: Error) => ({ list: () => Promise.reject(error) });
    const refused = new S3Error(
      "GET /",
      0,
      "",
      Object.assign(new Error("x"), { code: "ECONNREFUSED" }),
    );
    await assert.rejects(checkS3Reachable(s3, failing(refused)), (error) => {
      assert.ok(error instanceof CliError);
      assert.equal(
        error.message,
        "cannot reach s3://files/ftp at http://127.0.0.1:1: S3 GET /: no answer (ECONNREFUSED)",
      );
      assert.equal(error.exitCode, 7);
      return true;
    });
    // Deno's fetch gives no code: the last part of its message says why.
    const deno = new TypeError("fetch failed", {
      cause: new Error(
        "error sending request for url (http://127.0.0.1:1/files/?list-type=2): client error " +
          "(Connect): tcp connect error: Connection refused (os error 111)",
      ),
    });
    await assert.rejects(
      checkS3Reachable(s3, failing(new S3Error("GET /", 0, "", deno))),
      /: S3 GET \/: no answer \(Connection refused \(os error 111\)\)$/,
    );
    const timedOut = new DOMException("The signal has been aborted", "AbortError");
    await assert.rejects(
      checkS3Reachable(s3, failing(new S3Error("GET /", 0, "", timedOut))),
      /: S3 GET \/: no answer \(timed out\)$/,
    );
    await assert.rejects(
      checkS3Reachable(s3, failing(new S3Error("GET /", 403, "SignatureDoesNotMatch"))),
      (error) => {
        assert.ok(error instanceof CliError);
        assert.equal(
          error.message,
          "cannot reach s3://files/ftp at http://127.0.0.1:1: S3 GET /: 403 SignatureDoesNotMatch",
        );
        assert.equal(error.exitCode, 1);
        return true;
      },
    );
    // Anything else is not the store's answer: it goes up as it is.
    await assert.rejects(checkS3Reachable(s3, failing(new TypeError("bug"))), TypeError);
  });
});
