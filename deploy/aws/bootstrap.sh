#!/usr/bin/env bash
# cacheswarm on one load-generator host: install from a checkout (or pip spec), fetch the run's
# secrets from Secrets Manager into a root-only file, and start the Locust master or worker as a
# systemd service (or, with --foreground, in this shell: containers, tests, network namespaces).
#
#   bootstrap.sh --role master|worker --source DIR|PIP_SPEC [--master-host IP] [--expect-workers N]
#                [--namespace NS] [--mysql-url URL] [--redis-url URL] [--redis-reader-url URL]
#                [--db-secret ARN] [--redis-secret ARN] [--bucket NAME] [--log-group NAME]
#                [--region R] [--prefix /opt/cacheswarm] [--foreground] [--no-start] [-- extra locust options]
#
# --foreground keeps every file under --prefix (not /etc, not systemd) and runs Locust in this shell;
# --no-start installs and writes the settings, then stops (e.g. to seed from the master first).
#
# Secrets never travel in user data or over Locust's port 5557 (which ships the master's options
# to workers in clear): every host reads them itself, as CACHESWARM_MYSQL_PASSWORD and
# CACHESWARM_REDIS_PASSWORD. boto3 honours AWS_ENDPOINT_URL (the tests point it at moto).
set -euo pipefail

role="" source="" master_host="" expect_workers=1 namespace=cacheswarm mysql_url="" redis_url=""
redis_reader_url="" db_secret="" redis_secret="" bucket="" log_group="" region="${AWS_REGION:-}"
prefix=/opt/cacheswarm foreground=0 no_start=0 extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --role) role=$2; shift 2 ;;
    --source) source=$2; shift 2 ;;
    --master-host) master_host=$2; shift 2 ;;
    --expect-workers) expect_workers=$2; shift 2 ;;
    --namespace) namespace=$2; shift 2 ;;
    --mysql-url) mysql_url=$2; shift 2 ;;
    --redis-url) redis_url=$2; shift 2 ;;
    --redis-reader-url) redis_reader_url=$2; shift 2 ;;
    --db-secret) db_secret=$2; shift 2 ;;
    --redis-secret) redis_secret=$2; shift 2 ;;
    --bucket) bucket=$2; shift 2 ;;
    --log-group) log_group=$2; shift 2 ;;
    --region) region=$2; shift 2 ;;
    --prefix) prefix=$2; shift 2 ;;
    --foreground) foreground=1; shift ;;
    --no-start) no_start=1; shift ;;
    --) shift; extra=("$@"); break ;;
    *) echo "bootstrap.sh: unknown option $1 (see the header of this script)" >&2; exit 2 ;;
  esac
done
case "$role" in master|worker) ;; *) echo "bootstrap.sh: --role must be master or worker" >&2; exit 2 ;; esac
[ -n "$source" ] || { echo "bootstrap.sh: --source (a checkout or a pip spec) is required" >&2; exit 2; }
if [ "$role" = worker ] && [ -z "$master_host" ]; then
  echo "bootstrap.sh: a worker needs --master-host" >&2; exit 2
fi

python=$(command -v python3.11 || command -v python3)
mkdir -p "$prefix"
[ -x "$prefix/venv/bin/python" ] || "$python" -m venv "$prefix/venv"
"$prefix/venv/bin/pip" install --quiet --upgrade pip >/dev/null 2>&1 || true
"$prefix/venv/bin/pip" install --quiet "$source"
[ -d "$source/locustfiles" ] && locustfile="$source/locustfiles/compare.py" || locustfile=""
if [ -z "$locustfile" ]; then
  locustfile="$prefix/compare.py"
  printf 'from cacheswarm.glue.locustfile import *  # noqa: F401,F403\n' > "$locustfile"
fi

# the run's settings (no secrets) and the secrets (root-only), as systemd EnvironmentFiles
conf_dir=$prefix
if [ "$foreground" = 0 ] && mkdir -p /etc/cacheswarm 2>/dev/null; then conf_dir=/etc/cacheswarm; fi
env_file="$conf_dir/run.env" secret_file="$conf_dir/secrets.env"
{
  echo "LOCUST_NAMESPACE=$namespace"
  [ -z "$mysql_url" ] || echo "LOCUST_MYSQL_URL=$mysql_url"
  [ -z "$redis_url" ] || echo "LOCUST_REDIS_URL=$redis_url"
  [ -z "$redis_reader_url" ] || echo "LOCUST_REDIS_READER_URL=$redis_reader_url"
  [ -z "$region" ] || echo "AWS_REGION=$region"
  echo "LOCUST_REPORT_DIR=$prefix/reports"
} > "$env_file"
umask 077
DB_SECRET="$db_secret" REDIS_SECRET="$redis_secret" "$prefix/venv/bin/python" - > "$secret_file" <<'PY'
import json, os
import boto3
for env, arn, key in (("CACHESWARM_MYSQL_PASSWORD", os.environ["DB_SECRET"], "password"),
                      ("CACHESWARM_REDIS_PASSWORD", os.environ["REDIS_SECRET"], "token")):
    if arn:
        value = json.loads(boto3.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"])[key]
        print(f"{env}={value}")
PY
umask 022
mkdir -p "$prefix/reports"
if [ "$no_start" = 1 ]; then
  echo "cacheswarm installed in $prefix/venv; settings in $env_file and $secret_file (not started)"
  exit 0
fi

if [ "$role" = master ]; then
  cmd=("$prefix/venv/bin/locust" -f "$locustfile" --master --expect-workers "$expect_workers")
else
  cmd=("$prefix/venv/bin/locust" -f "$locustfile" --worker --master-host "$master_host")
fi
cmd+=("${extra[@]}")

if [ "$foreground" = 1 ]; then
  set -a; . "$env_file"; . "$secret_file"; set +a
  cd "$prefix"
  status=0
  "${cmd[@]}" || status=$?
  if [ "$role" = master ] && [ -n "$bucket" ]; then
    "$prefix/venv/bin/python" "$(dirname "$0")/upload_reports.py" "$prefix/reports" "$bucket" "$namespace"
  fi
  exit "$status"
fi

unit=cacheswarm-$role
cat > "/etc/systemd/system/$unit.service" <<UNIT
[Unit]
Description=cacheswarm Locust $role
After=network-online.target
Wants=network-online.target

[Service]
EnvironmentFile=$env_file
EnvironmentFile=$secret_file
WorkingDirectory=$prefix
ExecStart=$(printf '%q ' "${cmd[@]}")
Restart=on-failure
StandardOutput=append:/var/log/$unit.log
StandardError=append:/var/log/$unit.log

[Install]
WantedBy=multi-user.target
UNIT
if [ "$role" = master ] && [ -n "$bucket" ]; then
  cp "$(dirname "$0")/upload_reports.py" "$prefix/upload_reports.py"
  cat > /etc/systemd/system/cacheswarm-upload.service <<UNIT
[Unit]
Description=upload cacheswarm reports to s3://$bucket/$namespace/
[Service]
Type=oneshot
EnvironmentFile=$env_file
ExecStart=$prefix/venv/bin/python $prefix/upload_reports.py $prefix/reports $bucket $namespace
UNIT
  cat > /etc/systemd/system/cacheswarm-upload.timer <<UNIT
[Unit]
Description=upload cacheswarm reports every minute
[Timer]
OnBootSec=2min
OnUnitActiveSec=1min
[Install]
WantedBy=timers.target
UNIT
fi
if [ -n "$log_group" ] && dnf install -y -q amazon-cloudwatch-agent >/dev/null 2>&1; then
  cat > /opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.json <<JSON
{"logs": {"logs_collected": {"files": {"collect_list": [
  {"file_path": "/var/log/cacheswarm-*.log", "log_group_name": "$log_group", "log_stream_name": "{instance_id}-$role"}]}}}}
JSON
  systemctl enable --now amazon-cloudwatch-agent
fi
systemctl daemon-reload
systemctl enable --now "$unit.service"
if [ "$role" = master ] && [ -n "$bucket" ]; then systemctl enable --now cacheswarm-upload.timer; fi
echo "cacheswarm $role started ($unit.service)"
