/**
 * Test helper: an image folder for `deno task dev --images` (what a packager makes with `docker
 * export` or from an s9pk): `<dir>/<imageId>/` root filesystems, `<imageId>.json` and `.env`.
 * Each image is the machine's `dash` and `deno` (hard-linked when the file system allows, else
 * copied) with the libraries `ldd` names, plus the commands tests/fixtures/dev-services runs:
 * `db-init`, `db-cli`, `db-server` (db), `app-server`, `chown` and `chmod` (app). The servers answer HTTP on the
 * port of `--port N` or of `/data/settings.json` and print `<image>: listening on <port> as uid
 * <uid> in <cwd>`.
 */

const SERVER = `
const i = Deno.args.indexOf("--port");
const port = i >= 0
  ? Number(Deno.args[i + 1])
  : JSON.parse(Deno.readTextFileSync("/data/settings.json")).ports.web;
const who = Deno.env.get("IMAGE_NAME") ?? "image";
Deno.serve(
  { hostname: "127.0.0.1", port, onListen: () =>
    console.log(\`\${who}: listening on \${port} as uid \${Deno.uid()} in \${Deno.cwd()}\`) },
  () => new Response(\`\${who}\\n\`),
);
Deno.addSignalListener("SIGTERM", () => Deno.exit(0));
`;

const COMMANDS: Record<string, Record<string, string>> = {
  db: {
    "db-server": 'exec deno run --quiet -A /srv/server.js "$@"',
    "db-init": 'echo "initialized with DB_LOCALE=$DB_LOCALE" > "$2/initialized"; echo db-init done',
    "db-cli": 'echo "$1 done in $PWD on $3"',
  },
  app: {
    "app-server": 'exec deno run --quiet -A /srv/server.js "$@"',
    // The app's one-shot step: print what they were asked, change nothing.
    chown: 'echo "chown $* (image stand-in)"',
    chmod: 'echo "chmod $* (image stand-in)"',
  },
};

/** The files `ldd` says `binary` loads. */
async function libraries(binary: string): Promise<string[]> {
  const out = await new Deno.Command("ldd", { args: [binary], stdout: "piped" }).output();
  return [...new TextDecoder().decode(out.stdout).matchAll(/(\/\S+)/g)].map((m) => m[1]);
}

async function place(source: string, target: string, link: boolean): Promise<void> {
  await Deno.mkdir(target.slice(0, target.lastIndexOf("/")), { recursive: true });
  const real = await Deno.realPath(source);
  if (link) {
    try {
      await Deno.link(real, target);
      return;
    } catch {
      // another file system: copy
    }
  }
  await Deno.copyFile(real, target);
  await Deno.chmod(target, (await Deno.stat(real)).mode ?? 0o755);
}

/** Writes the images `app` and `db` into `dir`. */
export async function writeDevImages(dir: string): Promise<void> {
  const deno = Deno.execPath();
  const dash = "/bin/sh";
  for (const [image, commands] of Object.entries(COMMANDS)) {
    const root = `${dir}/${image}`;
    for (const sub of ["etc", "srv", "proc", "dev", "sys", "tmp", "usr/bin", "bin"]) {
      await Deno.mkdir(`${root}/${sub}`, { recursive: true });
    }
    await Deno.chmod(`${root}/tmp`, 0o1777);
    for (const lib of [...await libraries(dash), ...await libraries(deno)]) {
      await place(lib, `${root}${lib}`, false).catch(() => {});
    }
    await place(dash, `${root}/bin/sh`, false);
    await place(deno, `${root}/usr/bin/deno`, true);
    await Deno.writeTextFile(
      `${root}/etc/passwd`,
      "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/srv:/bin/sh\n",
    );
    await Deno.writeTextFile(`${root}/srv/server.js`, SERVER);
    for (const [name, body] of Object.entries(commands)) {
      await Deno.writeTextFile(`${root}/usr/bin/${name}`, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
    }
    await Deno.writeTextFile(
      `${dir}/${image}.env`,
      `PATH=/usr/bin:/bin\nDENO_DIR=/tmp/deno\nHOME=/tmp\nIMAGE_NAME=${image}\n`,
    );
    const config = image === "app"
      ? { user: "app", workdir: "/srv" }
      : { user: "root", workdir: "/" };
    await Deno.writeTextFile(`${dir}/${image}.json`, JSON.stringify(config));
  }
}
