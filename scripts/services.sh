#!/usr/bin/env bash
# Make sure MySQL and Redis answer on 127.0.0.1 (or the hosts in LOCUST_MYSQL_URL/LOCUST_REDIS_URL):
# use what is already listening; else `docker compose up -d mysql redis` when a Docker engine
# runs; else say how to get them.
set -u
up() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
mysql_host=127.0.0.1 mysql_port=3306 redis_host=127.0.0.1 redis_port=6379
both_up() { up $mysql_host $mysql_port && up $redis_host $redis_port; }

pg_note() { up 127.0.0.1 5432 || echo "cacheswarm: no PostgreSQL on 127.0.0.1:5432 (only --backend postgres and its tests need it): start one (e.g. 'sudo apt-get install postgresql', or 'docker compose up -d postgres') or pass --postgres-url" >&2; }
both_up && { pg_note; exit 0; }
if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
  echo "starting MySQL and Redis with docker compose ..."
  docker compose up -d mysql redis || exit 1
  for _ in $(seq 1 60); do both_up && { echo "MySQL and Redis are up"; exit 0; }; sleep 2; done
  echo "cacheswarm: MySQL/Redis from docker compose did not answer within 120 s (see: docker compose logs)" >&2
  exit 1
fi
up $mysql_host $mysql_port || echo "cacheswarm: no MySQL on $mysql_host:$mysql_port: start one (e.g. 'sudo apt-get install mariadb-server', or a Docker engine and 'docker compose up -d mysql') or pass --mysql-url" >&2
up $redis_host $redis_port || echo "cacheswarm: no Redis on $redis_host:$redis_port: start one (e.g. 'sudo apt-get install redis-server', or a Docker engine and 'docker compose up -d redis') or pass --redis-url" >&2
exit 1
