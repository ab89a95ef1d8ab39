"""`docs/reference/targets.md`: the deploy targets page, generated so its names, ports and
commands follow the config like the files they describe."""

from __future__ import annotations

import re
import textwrap
from typing import TYPE_CHECKING, Final

from generators import compose, ecs, render_blueprint
from infra.config import PROJECT, StageConfig
from infra.config.render import POSTGRES_MAJOR_VERSION
from infra.task_design import APP_CONTAINER, ECS_REDIS_BIND, REDIS_CONTAINER

if TYPE_CHECKING:
    from generators.generate import TargetConfigs

_WIDTH: Final = 100  # prose wraps at 100 columns, as in the hand-written docs
_NBSP: Final = "\x00"  # stands in for spaces inside code spans while wrapping


def _para(text: str, *, indent: str = "") -> str:
    """One Markdown paragraph (or list item, with `indent` for its continuation lines). Code
    spans are never split across lines."""
    glued = re.sub(r"`[^`]*`", lambda m: m.group().replace(" ", _NBSP), text)
    return (
        textwrap.fill(
            glued,
            width=_WIDTH,
            subsequent_indent=indent,
            break_long_words=False,
            break_on_hyphens=False,
        ).replace(_NBSP, " ")
        + "\n"
    )


def _fence(*lines: str) -> str:
    return "```bash\n" + "".join(f"{line}\n" for line in lines) + "```\n"


def targets_page(configs: TargetConfigs) -> str:
    """The whole page, from the configs that feed the files."""
    dev, renders, prod = configs.compose, configs.render, configs.ecs
    rnd = renders[0]
    redis_port, app_port = dev.redis.port, dev.app.port
    plain = [
        f"`{k}={v}`" for k, v in dev.app_environment(redis_host="-").items() if k != "REDIS_HOST"
    ]
    secrets = ", ".join(f"`{k}`" for k in dev.app.secret_keys)
    app_logs = ecs.log_group_name(prod, APP_CONTAINER)
    redis_logs = ecs.log_group_name(prod, REDIS_CONTAINER)
    pg_var = compose.POSTGRES_PASSWORD_VAR
    pg_file = compose.POSTGRES_OVERRIDE
    return "".join(
        [
            "# Deploy targets: docker-compose, Render, AWS CLI\n\n",
            _para(
                "The same design (Redis beside the app: in memory, bounded, no RDB, no AOF) runs "
                "on every target. These files are generated from `infra/config/` by `make "
                "targets` (`python -m generators`) and validated before anything is written "
                "(Render's Blueprint schema, the Compose Specification, botocore's ECS model, "
                "plus the rules those miss). The tests fail when a committed file differs from "
                "what the generator writes; `python -m generators --check` prints the diff."
            ),
            "\n| file | stage | for |\n| --- | --- | --- |\n",
            f"| `docker-compose.yml` | {dev.stage} | local run (docker-compose 1.29 or v2) |\n",
            f"| `docker-compose.postgres.yml` | {dev.stage} | adds Postgres to the local run |\n",
            f"| `.env.example` | {dev.stage} | template of the `.env` that compose reads |\n",
            f"| `render.yaml` | {', '.join(c.stage for c in renders)} | Render Blueprint, an "
            "environment per stage (Render reads it from the root) |\n",
            f"| `{render_blueprint.REDIS_CONF_PATH}` | {rnd.stage} | Redis of the Render private "
            "services (`service/Dockerfile.redis` copies it) |\n",
            f"| `ecs-task-definition.json` | {prod.stage} | `aws ecs register-task-definition` "
            f"(family `{prod.task_family}`) |\n\n",
            _para(
                "Why these stages: compose is a laptop, so it takes "
                f"{dev.stage}'s settings; Render runs every stage, each in its own environment "
                "with the stage's APP_STAGE; the task-definition JSON is the AWS CLI path to a "
                f"production task, so it takes {prod.stage}'s names (family "
                f"`{prod.task_family}`, log groups under "
                f"`{prod.log_group_prefix}`). Should the stages' container settings ever differ, "
                "each file follows its own stage. `ecs-task-definition.json` carries no "
                '"generated" notice because JSON has no comments and `register-task-definition '
                "--cli-input-json` rejects unknown keys: this page is its notice."
            ),
            "\n## Where the app finds Redis\n\n",
            "| target | `REDIS_HOST` | why |\n| --- | --- | --- |\n",
            f"| docker-compose | `{REDIS_CONTAINER}` | the service's DNS name on the compose "
            "network; Redis listens on the container's interfaces "
            f"(`{compose.COMPOSE_REDIS_BIND}`), published to the host on 127.0.0.1 only |\n",
            "| ECS Fargate (CDK or CLI) | `localhost` | same task: both containers share the "
            f"awsvpc network namespace; Redis binds loopback only (`{ECS_REDIS_BIND}`) |\n",
            f"| Render | host of `{render_blueprint.REDIS_SERVICE}-<stage>` (`fromService`, "
            "property `host`; none in prod) or of the stage's Key Value | another instance on "
            "Render's private network; Redis binds "
            f"`{render_blueprint.RENDER_REDIS_BIND}`, and a private service has no public URL |\n",
            "| local / rehearsal | `localhost` | `python -m service` beside a local "
            "`redis-server` |\n\n",
            _para(
                "Every other non-secret variable is identical on every target: "
                + ", ".join(plain)
                + f". Secrets ({secrets}) come from Secrets Manager (`{PROJECT}/<stage>/app`) on "
                "ECS, from `sync: false` prompts on Render and from `.env` in compose."
            ),
            "\n## docker-compose\n\n",
            _para(
                "Works with docker-compose 1.29 (Debian 12) and Compose v2 (`docker compose`). "
                "The containers keep the task's hardening (read-only root filesystems, init, "
                "the app's non-root user, memory limits). Behind a registry mirror, set "
                "`REDIS_IMAGE` and `PYTHON_IMAGE` in `.env`; `make images` builds both images "
                "(with stand-in bases where no registry is reachable)."
            ),
            "\n",
            _fence(
                "cp .env.example .env",
                "docker-compose up -d --build     # the app starts once redis is healthy",
                "docker-compose ps                # both (healthy)",
                f"curl -s localhost:{app_port}{dev.app.health_check_path}",
                f"docker-compose logs -f {APP_CONTAINER} {REDIS_CONTAINER}",
                f"docker-compose exec {REDIS_CONTAINER} redis-cli -p {redis_port} ping   # PONG",
                f"docker-compose exec {REDIS_CONTAINER} redis-cli -p {redis_port} config get "
                f"maxmemory   # {dev.redis.maxmemory_bytes} "
                f"({dev.redis.effective_maxmemory_mib} MiB)",
                f"docker-compose exec {REDIS_CONTAINER} redis-cli -p {redis_port} info stats "
                "| grep keyspace_",
                f"redis-cli -h 127.0.0.1 -p {redis_port} ping   # from the host "
                f"({compose.REDIS_HOST_PORT_VAR} in .env)",
                "docker-compose down -v           # -v: also the volumes it made",
            ),
            "\n",
            _para(
                "Postgres instead of the embedded SQLite demo data: in `.env`, set "
                f"`{pg_var}` (`openssl rand -hex 16`) and "
                f"`DATABASE_URL={compose.database_url_example()}` (Compose fills in the "
                "password), then name both files in every command. The app seeds an empty "
                "database with the demo users and links the dev tokens' users to them, so "
                "`service.ops token` needs no `link-user`. Behind a registry mirror, set "
                f"`{compose.POSTGRES_IMAGE_VAR}` (default `{compose.POSTGRES_IMAGE}`)."
            ),
            "\n",
            _fence(
                f"docker-compose -f docker-compose.yml -f {pg_file} up -d   # app waits for both",
                f"docker-compose -f docker-compose.yml -f {pg_file} ps      # all three (healthy)",
                f"docker-compose -f docker-compose.yml -f {pg_file} exec {APP_CONTAINER} "
                "python -m service.ops token --user 1",
                f"docker-compose -f docker-compose.yml -f {pg_file} down -v   # and its volume",
            ),
            *_render_section(renders),
            "\n## AWS CLI (without CDK)\n\n",
            _para(
                "`ecs-task-definition.json` is the CDK stack's task definition (a test compares "
                "the two field by field) with `YOUR_...` and `XXXXXX` placeholders. Before "
                "registering it you need: both images pushed to ECR (`make deploy-registry`, "
                "then `docker push` of the app's `<tag>` and Redis's `redis-<tag>`, built from "
                "`service/Dockerfile.redis`), "
                f"the app secret (the state stack's, `{prod.secret_name_prefix}-<stack id>`: "
                "one JSON object, passed whole as `APP_SECRETS`), the two log "
                "groups, an execution role (ECR pull, `logs:CreateLogStream` and "
                "`logs:PutLogEvents`, `secretsmanager:GetSecretValue` on the secret) and a task "
                "role (ECS Exec's `ssmmessages:*` channels). The file targets "
                f"`{prod.region}` (config `region`)."
            ),
            "\n",
            _fence(
                f"export AWS_REGION={prod.region}",
                "ACCOUNT=$(aws sts get-caller-identity --query Account --output text)",
                "IMAGE_TAG=$(git rev-parse --short HEAD)   # a release you pushed (both images)",
                "EXECUTION_ROLE=my-ecs-execution-role TASK_ROLE=my-ecs-task-role   # your roles",
                f"for g in {app_logs} {redis_logs}; do",
                '  aws logs create-log-group --log-group-name "$g"',
                '  aws logs put-retention-policy --log-group-name "$g" --retention-in-days '
                f"{prod.log_retention_days}",
                "done",
                f"SECRET_ARN=$(aws cloudformation describe-stacks --stack-name "
                f"{prod.state_stack_name} --query \"Stacks[0].Outputs[?OutputKey=='SecretArn']"
                '.OutputValue" --output text)',
                "TD=$(mktemp)",
                f'sed -e "s|{ecs.SECRET_ARN_PLACEHOLDER}|$SECRET_ARN|" \\',
                f'    -e "s|{ecs.EXECUTION_ROLE_PLACEHOLDER}|$EXECUTION_ROLE|" '
                f'-e "s|{ecs.TASK_ROLE_PLACEHOLDER}|$TASK_ROLE|" \\',
                f'    -e "s|{ecs.ACCOUNT_PLACEHOLDER}|$ACCOUNT|g" '
                f'-e "s|{ecs.IMAGE_TAG_PLACEHOLDER}|$IMAGE_TAG|" \\',
                '    ecs-task-definition.json > "$TD"',
                "grep -n 'YOUR_' \"$TD\" || echo 'all placeholders filled'",
                'aws ecs register-task-definition --cli-input-json "file://$TD" '
                "--query 'taskDefinition.[family,revision]'",
            ),
            "\n",
            _para(
                "Run it with `aws ecs create-service` or `aws ecs run-task` (`--launch-type "
                "FARGATE`, `awsvpcConfiguration` with private subnets and a security group that "
                f"admits {prod.app.port} from your load balancer only). Do not point the "
                "CDK-managed service at it: CloudFormation would revert the change at the next "
                "deploy."
            ),
            "\n",
        ]
    )


def _render_row(config: StageConfig) -> str:
    rb = render_blueprint
    if config.render.cache == "keyvalue":
        cache = f"Key Value `{rb.keyvalue_name(config)}` ({config.render.keyvalue_plan})"
    else:
        plan = rb.plan_for(config.redis.memory_mib, "redis.memory_mib")
        cache = f"private service `{rb.redis_service_name(config)}` ({plan})"
    database = (
        f"Render Postgres `{rb.database_name(config)}` ({config.render.postgres_plan})"
        if config.render.database == "render-postgres"
        else "`DATABASE_URL` prompt" + (" (required)" if config.stage == "prod" else "")
    )
    web_plan = rb.plan_for(config.app.memory_mib, "app.memory_mib")
    return (
        f"| {config.stage} | `{rb.web_service_name(config)}` ({web_plan}) | {cache} | "
        f"{database} | {rb.render_region(config)} | `{config.render.auto_deploy}` |\n"
    )


def _render_section(renders: tuple[StageConfig, ...]) -> list[str]:
    """The Render section: the environments, the steps, and why the Blueprint is as it is."""
    rnd = renders[0]
    secrets = ", ".join(f"`{k}`" for k in rnd.app.secret_keys)
    health = rnd.app.health_check_path
    web = render_blueprint.web_service_name(rnd)
    return [
        "\n## Render\n\n",
        _para(
            f"`render.yaml` holds one project, `{PROJECT}`, with an environment per stage. Each "
            "runs the app with its stage's `APP_STAGE`, so Render applies the rules ECS does "
            "(Cognito settings required; in prod a database, and no demo data), in the "
            "stage's Render region (`render.region`; by default the one in the same place as "
            "the stage's AWS `region`). Settings: `render.*` in the stage files."
        ),
        "\n| environment | web service | cache | database | region | auto-deploy |\n",
        "| --- | --- | --- | --- | --- | --- |\n",
        *(_render_row(c) for c in renders),
        "\n",
        _para("1. Push the repository to GitHub, GitLab or Bitbucket.", indent="   "),
        _para(
            "2. In the Render Dashboard choose **New > Blueprint** and pick the repository. "
            "Render reads `render.yaml` from the root and proposes the services above.",
            indent="   ",
        ),
        _para(
            f"3. Render prompts for the `sync: false` secrets ({secrets}); they never go into "
            "the file. Required, or the app exits at start and the deploy fails: "
            "`AWS_COGNITO_USER_POOL_ID` and `AWS_COGNITO_CLIENT_ID` in every environment (the "
            "Cognito pool of the stage's AWS deploy: its `UserPoolId` and `AppClientIds` "
            "outputs), and `DATABASE_URL` in prod unless `render.database` is "
            "`render-postgres`. Leave the others empty if unused. Change them later under the "
            "web service's **Environment**.",
            indent="   ",
        ),
        _para(
            "4. Apply. Render builds the images from `service/` (`Dockerfile.redis` copies the "
            "generated `redis.conf`), wires `REDIS_HOST` (and the password) to the stage's "
            f"cache, and routes traffic once `GET {health}` answers 200.",
            indent="   ",
        ),
        _para(
            f"5. Verify: `curl -s https://<your {web} URL>{health}` answers 200; "
            f"`/ready`, `/metrics`, `/cache/stats` and `/docs` answer 404 there.",
            indent="   ",
        ),
        "\n",
        _para(
            "**Ops endpoints.** Nothing in front of a Render web service filters paths, so the "
            f"app serves `/ready`, `/metrics`, `/cache/stats` and `/docs` on `OPS_PORT` "
            f"({rnd.app.ops_port}, `app.ops_port`) only: Render makes only `PORT` public, and "
            "the other ports are reachable on the workspace's private network (e.g. from the "
            f"web service's **Shell**: `curl -s localhost:{rnd.app.ops_port}/ready`)."
        ),
        "\n",
        _para(
            "**Deploys.** `buildFilter`s redeploy a service only when the files it is built "
            "from change: the app on `service/**` except `Dockerfile.redis` and `redis.conf`, "
            "Redis on those two only, so a docs-only push restarts nothing and an app change "
            "keeps the cache. `render.auto_deploy` says when a push deploys: after the "
            "commit's checks pass (`checksPass`, dev's default), on every commit (`commit`), "
            "or never (`off`, prod's default: deploy from the Dashboard or a deploy hook)."
        ),
        "\n",
        _para(
            "**Cache: private service or Key Value** (`render.cache`). The private service "
            "(default) runs the ECS sidecar's exact settings (maxmemory "
            f"{rnd.redis.effective_maxmemory_mib} MiB, `{rnd.redis.maxmemory_policy}`, no RDB, no "
            "AOF) and requires a password Render generates, so no other service of the "
            "workspace can use it without it; you own the image. Render Key Value "
            "(`keyvalue`) is managed (nothing to build, Render updates it) with the same "
            "eviction policy and persistence off, but its plan (`render.keyvalue_plan`) sets "
            "maxmemory, and its internal connections need no password: every service of the "
            "workspace in that region can read and write the cache."
        ),
        "\n",
        _para(
            "**Database** (`render.database`). `external` (default): `DATABASE_URL` is "
            "prompted for (any Postgres the instances reach). `render-postgres`: the Blueprint "
            "creates a Render Postgres in the stage's region (`render.postgres_plan`, Postgres "
            f"{POSTGRES_MAJOR_VERSION}, no access from outside the private network) and sets "
            "`DATABASE_URL` to its internal connection string. Render Postgres instances are "
            "not deleted with the Blueprint: they hold the data."
        ),
        "\n",
        _para(
            "Render has no free private services. The generator picks the smallest paid "
            "instance whose RAM holds each container's memory limit. The private network is "
            "per region, so every service of a stage sits in the stage's region. The private "
            "services of every stage are built from the one `service/redis.conf`, so stages "
            "that run one share their Redis settings (the generator refuses otherwise)."
        ),
    ]
