#!/bin/sh
# MariaDB of the local overlay: a data dir on the volume, one database per service
# plus the event queue's, and the account fanone (password from the Secret) that
# owns them. Runs as the image's non-root user; root logs in by unix socket only.
# --force: the bootstrap needs no host name lookup (none outside the cluster here).
set -eu
if [ ! -d /data/mysql/mysql ]; then
  mariadb-install-db --no-defaults --datadir=/data/mysql --skip-test-db --skip-name-resolve --force \
    --auth-root-authentication-method=socket
fi
{
  for db in user video interaction social chat image events; do
    echo "CREATE DATABASE IF NOT EXISTS fanone_$db CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;"
  done
  echo "CREATE USER IF NOT EXISTS 'fanone'@'%' IDENTIFIED BY '$MARIADB_PASSWORD';"
  echo "ALTER USER 'fanone'@'%' IDENTIFIED BY '$MARIADB_PASSWORD';"
  echo "GRANT ALL PRIVILEGES ON \`fanone\\_%\`.* TO 'fanone'@'%';"
} >/tmp/init.sql
exec mariadbd --no-defaults --datadir=/data/mysql --socket=/tmp/mysqld.sock \
  --pid-file=/tmp/mysqld.pid --port=3306 --bind-address=0.0.0.0 --skip-name-resolve \
  --skip-log-bin --max-connections=500 --init-file=/tmp/init.sql
