// A single-node OpenStack Swift (Debian's python3-swift 2.30) with its S3 front end (`s3api`
// over `tempauth`) on loopback, for the tests and benchmarks that need a real S3-compatible
// object store.
//
// Everything lives in a fresh temporary folder: swift.conf, the server configurations, the rings,
// the device folder, the logs and the pid file; nothing under /etc is read or written. One Python
// process (the launcher written beside the configurations) builds the three rings with Swift's
// own RingBuilder, imports Swift once, then forks the account, container, object and proxy
// servers, each run by Swift's own `run_wsgi` with `workers = 0` (one process per server). The
// forks share the launcher's imports, so the store serves about a second after it starts, where
// the usual way took about eleven on a 2-core machine (nine `swift-ring-builder` runs 6.9 s, then
// the four `swift-*-server` commands 4.2 s). memcached runs beside it on a free loopback port for
// tempauth.

import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { request } from "node:http";
import { userInfo } from "node:os";
import { join } from "node:path";
import { until, within } from "../_wait.ts";
import {
  type Daemon,
  findPeer,
  freeTcpPort,
  missing,
  onFreePort,
  PEER,
  runPeer,
  startDaemon,
  tempDir,
} from "./_peers.ts";

/** A running single-node Swift with s3api, on loopback. */
export interface SwiftStore {
  /** The proxy's S3 endpoint, e.g. `http://127.0.0.1:PORT` (path-style requests). */
  readonly endpoint: string;
  /** What s3api's `location` is set to: the region to sign for. */
  readonly region: string;
  /** The S3 access key: tempauth's `account:user`. */
  readonly accessKeyId: string;
  /** The S3 secret: that tempauth user's key. */
  readonly secretAccessKey: string;
  /** Creates a bucket (S3 PUT Bucket), signed; resolves when it exists. */
  createBucket(name: string): Promise<void>;
  /** Stops every process (bounded wait, SIGKILL after) and removes the temp folder. */
  stop(): Promise<void>;
}

const REGION = "us-east-1";
const ACCOUNT = "test";
const USER = "tester";
const KEY = "testing";

/** SHA-256 of the empty body, which s3api wants in `x-amz-content-sha256` on a bodiless PUT. */
const EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/** How long the store may take to serve on a loaded machine (it usually takes about a second). */
const START_MS = 60_000;

const SERVERS = ["account", "container", "object", "proxy"] as const;
type Server = (typeof SERVERS)[number];

/**
 * Why the store cannot run here (Swift with s3api, memcached or curl missing: a loud message), or
 * `undefined` when it can.
 */
export function swiftMissing(): string | undefined {
  return missing("swift", "memcached", "curl") || undefined;
}

/**
 * The launcher: run by Debian's python3 with the store's folder, the account, container and
 * object ports, and memcached's pid as arguments.
 */
const LAUNCHER = `
import ctypes, os, signal, sys, traceback
store = sys.argv[1]
ports = dict(zip(('account', 'container', 'object'), map(int, sys.argv[2:5])))
memcached = int(sys.argv[5])

# Patched before Swift is imported: patching after the imports (as run_wsgi does) makes eventlet
# walk every lock they created, about half a second in each server.
import eventlet
eventlet.patcher.monkey_patch(all=False, socket=True, select=True, thread=True)

# Swift 2.30 reads swift.conf from /etc/swift whatever a server's swift_dir says: point it here
# before the storage policies and constraints are read (they are, when first imported).
from swift.common import utils
utils.set_swift_dir(store)
from swift.common import constraints, storage_policy
storage_policy.reload_storage_policies()
constraints.reload_constraints()

from swift.common.ring import RingBuilder
for name, port in ports.items():
    builder = RingBuilder(8, 1, 0)
    builder.add_dev({'id': 0, 'region': 1, 'zone': 1, 'ip': '127.0.0.1', 'port': port,
                     'device': 'd1', 'weight': 1.0, 'meta': ''})
    builder.rebalance(seed=1)
    builder.get_ring().save(os.path.join(store, name + '.ring.gz'))

from swift.common.wsgi import run_wsgi
import swift.account.server, swift.container.server, swift.obj.server, swift.proxy.server

libc = ctypes.CDLL(None, use_errno=True)
PR_SET_PDEATHSIG = 1
launcher = os.getpid()
children = {}
for name in ('account', 'container', 'object', 'proxy'):
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            # run_wsgi starts a session of its own: die with the launcher all the same.
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
            if os.getppid() == launcher:
                log = os.open(os.path.join(store, name + '.log'),
                              os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
                os.dup2(log, 1)
                os.dup2(log, 2)
                os.close(log)
                code = run_wsgi(os.path.join(store, name + '-server.conf'), name + '-server',
                                verbose=True)
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code or 0)
    children[pid] = name

# The watchdog reads the launcher's standard input, a pipe from whoever started the store: at its
# end (that process is gone, even killed) it stops memcached and the launcher, which stops the
# servers.
pid = os.fork()
if pid == 0:
    try:
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        while os.read(0, 4096):
            pass
        for gone in (memcached, launcher):
            if gone > 0:
                try:
                    os.kill(gone, signal.SIGTERM)
                except OSError:
                    pass
    finally:
        os._exit(0)
children[pid] = 'watchdog'

with open(os.path.join(store, 'servers.pid'), 'w') as pids:
    pids.write(''.join('%d %s\\n' % (pid, name) for pid, name in children.items()))
print('launcher: forked', ', '.join('%s %d' % (name, pid) for pid, name in children.items()),
      flush=True)

stopping = []
def stop(signum, frame):
    stopping.append(signum)
    for pid in children:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
signal.signal(signal.SIGTERM, stop)

# One server (or the watchdog) ending ends the store: the rest are stopped, the launcher exits.
while children:
    pid, status = os.wait()
    print('launcher: %s ended (wait status %d)' % (children.pop(pid), status), flush=True)
    stop(None, None)
sys.exit(0 if stopping[0] is not None else 1)
`;

/** An INI file from `{ section: { key: value } }`. */
function ini(sections: Record<string, Record<string, string | number>>): string {
  return Object.entries(sections).map(([section, entries]) =>
    [`[${section}]`, ...Object.entries(entries).map(([key, value]) => `${key} = ${value}`)]
      .join("\n")
  ).join("\n\n") + "\n";
}

/** Writes swift.conf and the four servers' configurations into `dir`. */
async function writeConfigs(
  dir: string,
  ports: Record<Server, number>,
  memcachePort: number,
): Promise<void> {
  const common = {
    bind_ip: "127.0.0.1",
    // A taken port ends the server at once, and startSwift tries other ports.
    bind_timeout: 1,
    workers: 0,
    user: userInfo().username,
    swift_dir: dir,
    log_level: "INFO",
  };
  await writeFile(
    join(dir, "swift.conf"),
    ini({
      "swift-hash": { swift_hash_path_suffix: "ftkit", swift_hash_path_prefix: "ftkit" },
      "storage-policy:0": { name: "Policy-0", default: "yes" },
    }),
  );
  const eggs: Record<Exclude<Server, "proxy">, string> = {
    account: "account",
    container: "container",
    object: "object",
  };
  for (const [server, egg] of Object.entries(eggs)) {
    await writeFile(
      join(dir, `${server}-server.conf`),
      ini({
        DEFAULT: {
          ...common,
          bind_port: ports[server as Server],
          devices: join(dir, "devices"),
          mount_check: "false",
        },
        "pipeline:main": { pipeline: `healthcheck ${server}-server` },
        [`app:${server}-server`]: { use: `egg:swift#${egg}` },
        "filter:healthcheck": { use: "egg:swift#healthcheck" },
      }),
    );
  }
  // s3api before tempauth, and slo after both (s3api's multipart uploads need it), as Swift
  // 2.30's proxy-server.conf-sample orders them.
  const pipeline = [
    "catch_errors",
    "gatekeeper",
    "healthcheck",
    "proxy-logging",
    "cache",
    "listing_formats",
    "bulk",
    "tempurl",
    "s3api",
    "tempauth",
    "copy",
    "slo",
    "dlo",
    "versioned_writes",
    "proxy-logging",
    "proxy-server",
  ];
  const filters: Record<string, Record<string, string>> = {};
  for (const name of new Set(pipeline.slice(0, -1))) {
    filters[`filter:${name}`] = { use: `egg:swift#${name.replace("-", "_")}` };
  }
  filters["filter:cache"] = {
    use: "egg:swift#memcache",
    memcache_servers: `127.0.0.1:${memcachePort}`,
  };
  filters["filter:tempauth"] = {
    use: "egg:swift#tempauth",
    [`user_${ACCOUNT}_${USER}`]: `${KEY} .admin`,
  };
  filters["filter:s3api"] = { use: "egg:swift#s3api", location: REGION };
  await writeFile(
    join(dir, "proxy-server.conf"),
    ini({
      DEFAULT: { ...common, bind_port: ports.proxy },
      "pipeline:main": { pipeline: pipeline.join(" ") },
      "app:proxy-server": {
        use: "egg:swift#proxy",
        account_autocreate: "true",
        // A loaded 2-core machine may take longer than the defaults (0.5 s to connect to a
        // server, 10 s for it to answer), and with one node an error-limited server (after 10
        // errors, for 60 s) would make every request fail: neither is wanted in tests.
        conn_timeout: 5,
        node_timeout: 30,
        error_suppression_limit: 1_000_000,
      },
      ...filters,
    }),
  );
}

/** The status of `GET url` (`0` when nothing answers), with a bounded wait. */
function statusOf(url: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request(url, { agent: false, timeout: 2_000 }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
      res.on("error", () => resolve(0));
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(0));
    req.end();
  });
}

/** The last `lines` lines of each log in `dir`, for an error message. */
async function logTails(dir: string, lines = 15): Promise<string> {
  const parts: string[] = [];
  for (const name of ["launcher", ...SERVERS]) {
    const text = await readFile(join(dir, `${name}.log`), "utf8").catch(() => "");
    if (text.trim() === "") continue;
    parts.push(
      `--- ${name}.log (tail) ---\n${text.trimEnd().split("\n").slice(-lines).join("\n")}`,
    );
  }
  return parts.join("\n");
}

/** A child's exit, seen as it happens. */
function exitOf(child: ChildProcess): { ended: () => string | undefined; gone: Promise<void> } {
  let ended: string | undefined;
  const gone = new Promise<void>((resolve) => {
    child.once("error", (error) => {
      ended ??= error.message;
      resolve();
    });
    child.once("exit", (code, signal) => {
      ended ??= `exit code ${code ?? signal}`;
      resolve();
    });
  });
  return { ended: () => ended, gone };
}

/** Pids of the forked servers, from the launcher's pid file. */
async function serverPids(dir: string): Promise<number[]> {
  const text = await readFile(join(dir, "servers.pid"), "utf8").catch(() => "");
  return text.split("\n").map((line) => Number(line.split(" ")[0])).filter((pid) => pid > 0);
}

/** Whether process `pid` is gone (or a zombie waiting for its parent). */
async function isGone(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
  return stat === "" || / Z /.test(stat.slice(stat.lastIndexOf(")")));
}

/** Four distinct TCP ports on 127.0.0.1 that were free a moment ago. */
async function serverPorts(): Promise<Record<Server, number>> {
  const ports = new Set<number>();
  for (let attempt = 0; ports.size < SERVERS.length && attempt < 100; attempt++) {
    ports.add(await freeTcpPort());
  }
  const [account, container, object, proxy] = [...ports];
  return { account, container, object, proxy };
}

interface Launched {
  readonly proxyPort: number;
  stop(): Promise<void>;
}

/** memcached, running on a loopback port. */
interface Memcached {
  readonly port: number;
  readonly daemon: Daemon;
}

/**
 * Writes the configurations for fresh ports and starts the launcher; resolves once all four
 * servers answer `/healthcheck`. `undefined` when a port was taken meanwhile (try again).
 */
async function launch(dir: string, memcached: Memcached): Promise<Launched | undefined> {
  const ports = await serverPorts();
  await writeConfigs(dir, ports, memcached.port);
  const python = findPeer("swift")!.program;
  const args = [join(dir, "launcher.py"), dir, ports.account, ports.container, ports.object]
    .concat(memcached.daemon.child.pid ?? 0);
  const log = openSync(join(dir, "launcher.log"), "a");
  let child: ChildProcess;
  try {
    child = spawn(
      python,
      args.map(String),
      {
        // Its standard input stays open as long as this process lives (see the watchdog).
        stdio: ["pipe", log, log],
        detached: true,
        // Swift names its peers by IP address: eventlet's DNS resolver (dnspython) is not needed
        // and costs a third of a second to import.
        env: { ...process.env, EVENTLET_NO_GREENDNS: "yes" },
      },
    );
  } finally {
    closeSync(log);
  }
  const { ended, gone } = exitOf(child);
  const stop = async () => {
    if (child.pid !== undefined && ended() === undefined) {
      // The launcher kills and reaps its servers on SIGTERM.
      child.kill("SIGTERM");
      await within(gone, "the Swift launcher to exit after SIGTERM", 10_000).catch(() => {
        try {
          process.kill(-child.pid!, "SIGKILL");
        } catch {
          // Already gone.
        }
      });
    }
    const pids = await serverPids(dir);
    for (const pid of pids) {
      if (await isGone(pid)) continue;
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // Already gone.
      }
    }
    await within(gone, "the Swift launcher to exit after SIGKILL");
    child.stdin?.destroy();
    await until(
      async () => (await Promise.all(pids.map(isGone))).every(Boolean),
      `the Swift servers (pids ${pids.join(", ")}) to exit`,
    );
  };
  try {
    await until(
      async () => {
        if (ended() !== undefined) {
          const tails = await logTails(dir);
          if (/Could not bind|Address already in use/.test(tails)) return true;
          throw new Error(`Swift's launcher ended (${ended()}) before it served:\n${tails}`);
        }
        const statuses = await Promise.all(
          SERVERS.map((server) => statusOf(`http://127.0.0.1:${ports[server]}/healthcheck`)),
        );
        return statuses.every((status) => status === 200);
      },
      "Swift's four servers to answer /healthcheck",
      START_MS,
      25,
    );
  } catch (error) {
    await stop().catch(() => {});
    if (error instanceof Error && !error.message.includes("--- ")) {
      error.message += `\n${await logTails(dir)}`;
    }
    throw error;
  }
  if (ended() !== undefined) {
    await stop();
    return undefined;
  }
  return { proxyPort: ports.proxy, stop };
}

/**
 * Starts a single-node Swift with s3api and tempauth (and memcached) on loopback, in a fresh
 * temporary folder, and resolves once it serves. Throws with the tails of its logs when it
 * cannot start. Skip first on {@linkcode swiftMissing}; stop in a `finally` or an `after` hook.
 */
export async function startSwift(): Promise<SwiftStore> {
  const reason = swiftMissing();
  if (reason !== undefined) throw new Error(reason);
  const dir = await tempDir("ftkit-swift-");
  let memcached: Memcached | undefined;
  let swift: Launched | undefined;
  const stop = async () => {
    try {
      await swift?.stop();
    } finally {
      try {
        await memcached?.daemon.stop();
      } finally {
        await dir.remove();
      }
    }
  };
  try {
    await mkdir(join(dir.path, "devices", "d1"), { recursive: true });
    await writeFile(join(dir.path, "launcher.py"), LAUNCHER);
    // memcached refuses to run as root unless told which user to be.
    const user = process.getuid?.() === 0 ? ["-u", "root"] : [];
    memcached = await onFreePort("tcp", async (port) => ({
      port,
      daemon: await startDaemon(
        PEER.memcached,
        ["-l", "127.0.0.1", "-p", String(port), "-U", "0", "-t", "1", "-m", "64", ...user],
        { tcp: port },
      ),
    }));
    for (let attempt = 0; attempt < 5 && swift === undefined; attempt++) {
      swift = await launch(dir.path, memcached);
    }
    if (swift === undefined) {
      throw new Error(`Swift could not bind its ports in 5 attempts:\n${await logTails(dir.path)}`);
    }
  } catch (error) {
    await stop().catch(() => {});
    throw error;
  }
  const endpoint = `http://127.0.0.1:${swift.proxyPort}`;
  const accessKeyId = `${ACCOUNT}:${USER}`;
  return {
    endpoint,
    region: REGION,
    accessKeyId,
    secretAccessKey: KEY,
    async createBucket(name: string): Promise<void> {
      // curl's --user splits at the first colon, and the access key has one: the credentials go
      // in the URL, percent-encoded. curl 7.88 does not send x-amz-content-sha256 itself; it
      // signs the one given.
      const url = `http://${encodeURIComponent(accessKeyId)}:${encodeURIComponent(KEY)}@` +
        `127.0.0.1:${swift.proxyPort}/${encodeURIComponent(name)}`;
      const ran = await runPeer(PEER.curl, [
        "-sS",
        "--aws-sigv4",
        `aws:amz:${REGION}:s3`,
        "-H",
        `x-amz-content-sha256: ${EMPTY_SHA256}`,
        "-X",
        "PUT",
        "-w",
        "\n%{http_code}",
        url,
      ]);
      const status = ran.stdout.trimEnd().split("\n").at(-1);
      if (ran.code !== 0 || status !== "200") {
        throw new Error(
          `Creating bucket "${name}" failed (curl exit ${ran.code}, HTTP ${status}): ` +
            `${ran.stdout}${ran.stderr}`,
        );
      }
    },
    stop,
  };
}
