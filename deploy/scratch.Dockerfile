# The image without a registry: `FROM scratch` plus a root filesystem that
# deploy/build-images.sh assembles from a binary built on this host and the
# shared libraries it links (the dynamic loader among them).
# Same user and entrypoint as the `magnetar` target of deploy/Dockerfile.
FROM scratch
COPY rootfs/ /
COPY --chown=10001:10001 data/ /data/
USER 10001:10001
ENV PATH=/usr/local/bin
WORKDIR /data
ENTRYPOINT ["magnetar"]
CMD ["standalone", "--bind", "0.0.0.0"]
