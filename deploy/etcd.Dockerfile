# etcd for the compose stack without a registry: the magnetar image (whose
# `magnetar health` is the health check) plus the host's etcd binary and
# its libraries, assembled by deploy/build-images.sh.
ARG BASE=magnetar:local
FROM ${BASE}
COPY rootfs/ /
ENTRYPOINT ["etcd"]
CMD []
