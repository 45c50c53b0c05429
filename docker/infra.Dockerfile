# The servers of the local one-node demo (k8s/overlays/local) in one image, for a
# machine with no registry: MariaDB 10.11, Redis 7, etcd 3.4 and Prometheus 2.42 from
# Debian, and Milvus Lite's engine (the `milvus_lite/lib` directory of the PyPI wheel,
# put in the build context as milvus-lib/ by scripts/image.sh infra). Each Deployment
# or StatefulSet picks its server with `command`. Where images can be pulled, the
# upstream images do the same job (docs/deploy.md).
ARG BASE=docker.io/library/debian:bookworm-slim
FROM ${BASE}
# policy-rc.d: the packages' postinst must not start their servers at build time
RUN printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 0755 /usr/sbin/policy-rc.d \
 && apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends \
      mariadb-server mariadb-client redis-server redis-tools etcd-server etcd-client \
      prometheus libgomp1 libstdc++6 ca-certificates \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /usr/sbin/policy-rc.d \
      /usr/share/doc/* /usr/share/man/* /usr/share/locale/* /var/lib/mysql/* \
 && groupadd --gid 10002 infra \
 && useradd --uid 10002 --gid 10002 --home-dir /data --no-create-home --shell /usr/sbin/nologin infra \
 && mkdir -p /data /run/mysqld && chown 10002:10002 /data /run/mysqld
# its bundled libraries (libm, libgcc_s ...) are for the milvus binary only: the
# Milvus container sets LD_LIBRARY_PATH=/opt/milvus/lib, nothing else does
COPY milvus-lib /opt/milvus/lib
USER 10002:10002
WORKDIR /data
