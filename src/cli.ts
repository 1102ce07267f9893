import { parseArgs } from "node:util";
import { compose } from "./compose.ts";
import { ConfigError, loadConfig, readEnvironment } from "./config.ts";
import { ROLES, type Role } from "./domain/roles.ts";
import { migrate } from "./platform/db/migrate.ts";

const USAGE = `Usage:
  ventros migrate                                   apply database migrations
  ventros keys create --role <admin|agent|readonly> [--name <name>] [--project <id>]
                                                    create an API key and print it once
  ventros projects list                             list projects (id and name)`;

const print = (line: string) => process.stdout.write(`${line}\n`);

/** Operator commands against the configured database (DATABASE_URL or DATA_DIR). */
async function run(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      role: { type: "string" },
      name: { type: "string" },
      project: { type: "string" },
      help: { type: "boolean" },
    },
  });
  const command = positionals.join(" ");
  if (values.help || !["migrate", "keys create", "projects list"].includes(command)) {
    print(USAGE);
    return values.help ? 0 : 2;
  }
  if (command === "keys create" && !ROLES.includes(values.role as Role)) {
    process.stderr.write(`--role must be one of ${ROLES.join(", ")}\n`);
    return 2;
  }

  const config = loadConfig({ ...readEnvironment(), LOG_LEVEL: "warn" });
  const app = await compose(config);
  const { db } = app.deps.database;
  try {
    if (command === "migrate") {
      const applied = await migrate(db);
      await app.deps.jobs.migrate();
      print(applied.length ? `Applied: ${applied.join(", ")}` : "Database is up to date");
      return 0;
    }
    await migrate(db);
    const projects = await db.selectFrom("projects").select(["id", "name"]).orderBy("id").execute();
    if (command === "projects list") {
      for (const p of projects) print(`${p.id}  ${p.name}`);
      return 0;
    }
    let projectId = values.project;
    if (!projectId) {
      if (projects.length > 1) {
        process.stderr.write(
          "Several projects exist; pass --project <id> (see: ventros projects list)\n",
        );
        return 2;
      }
      projectId = projects[0]?.id;
      if (!projectId) {
        // Empty database: the project's admin key would otherwise never be seen.
        const created = await app.deps.projects.createWithAdminKey(config.BOOTSTRAP_PROJECT_NAME);
        print(`Created project ${created.project.id}. Admin API key: ${created.apiKey}`);
        if (values.role === "admin") return 0;
        projectId = created.project.id;
      }
    } else if (!projects.some((p) => p.id === projectId)) {
      process.stderr.write(`No project ${projectId}\n`);
      return 2;
    }
    const { key, apiKey } = await app.deps.apiKeys.create(projectId, {
      name: values.name ?? `${values.role} key`,
      role: values.role as Role,
    });
    print(`API key (${apiKey.role}, id ${apiKey.id}): ${key}`);
    print("Store it now: it is not shown again.");
    return 0;
  } finally {
    await app.deps.database.close();
  }
}

run(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof ConfigError ? error.message : error);
    process.exit(1);
  },
);
