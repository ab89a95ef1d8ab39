"""`docs/reference/targets.md`: the deploy targets page, generated so its names, ports and
commands follow the config like the files they describe."""

from __future__ import annotations

import re
import textwrap
from typing import TYPE_CHECKING, Final

from generators import compose, ecs, render_blueprint
from infra.config import PROJECT
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
    dev, rnd, prod = configs.compose, configs.render, configs.ecs
    redis_port, app_port = dev.redis.port, dev.app.port
    plain = [
        f"`{k}={v}`" for k, v in dev.app_environment(redis_host="-").items() if k != "REDIS_HOST"
    ]
    secrets = ", ".join(f"`{k}`" for k in dev.app.secret_keys)
    app_logs = ecs.log_group_name(prod, APP_CONTAINER)
    redis_logs = ecs.log_group_name(prod, REDIS_CONTAINER)
    redis_plan = render_blueprint.plan_for(rnd.redis.memory_mib, "redis.memory_mib")
    web_plan = render_blueprint.plan_for(rnd.app.memory_mib, "app.memory_mib")
    health = rnd.app.health_check_path
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
            f"| `render.yaml` | {rnd.stage} | Render Blueprint (Render reads it from the root) |\n",
            f"| `{render_blueprint.REDIS_CONF_PATH}` | {rnd.stage} | Redis of the Render private "
            "service (`service/Dockerfile.redis` copies it) |\n",
            f"| `ecs-task-definition.json` | {prod.stage} | `aws ecs register-task-definition` "
            f"(family `{prod.task_family}`) |\n\n",
            _para(
                "Why these stages: compose and Render are a laptop and a hosted sandbox, so they "
                f"take {dev.stage}'s settings; the task-definition JSON is the AWS CLI path to a "
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
            f"| Render | host of `{render_blueprint.REDIS_SERVICE}` (`fromService`, property "
            "`host`) | another instance on Render's private network; Redis binds "
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
            "\n## Render\n\n",
            _para("1. Push the repository to GitHub, GitLab or Bitbucket.", indent="   "),
            _para(
                "2. In the Render Dashboard choose **New > Blueprint** and pick the repository. "
                "Render reads `render.yaml` from the root and proposes "
                f"`{render_blueprint.REDIS_SERVICE}` (private service, plan `{redis_plan}`) and "
                f"`{render_blueprint.WEB_SERVICE}` (web service, plan `{web_plan}`).",
                indent="   ",
            ),
            _para(
                f"3. Render prompts for the `sync: false` secrets ({secrets}); they never go "
                "into the file. Change them later under the web service's **Environment**.",
                indent="   ",
            ),
            _para(
                "4. Apply. Render builds both images from `service/` (`Dockerfile.redis` copies "
                "the generated `redis.conf`), sets `REDIS_HOST` to the private service's host, "
                f"and routes traffic once `GET {health}` answers 200.",
                indent="   ",
            ),
            _para(
                f"5. Verify: `curl -s https://<your {render_blueprint.WEB_SERVICE} URL>{health}`.",
                indent="   ",
            ),
            "\n",
            _para(
                "Render has no free private services. The generator picks the smallest paid "
                "instance whose RAM holds each container's memory limit (redis "
                f"{rnd.redis.memory_mib} MiB: `{redis_plan}`, app {rnd.app.memory_mib} MiB: "
                f"`{web_plan}`). The private network is per region: keep both services in one "
                "region (the Blueprint leaves both at Render's default). On Render, Redis asks "
                "for a password Render generates (REDIS_PASSWORD, shared with the app through "
                "the Blueprint), and only your workspace's services in that region reach it."
            ),
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
