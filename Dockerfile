# kfgate: a static binary on a distroless base, running as non-root, with no
# configuration inside: mount yours (or run the built-in demo with --demo).
#
#   make docker        (passes VERSION, REVISION and SOURCE_DATE_EPOCH from git)
#   docker run -p 8080:8080 -v $PWD/kfgate.yaml:/etc/kfgate/kfgate.yaml:ro \
#     -e KFGATE_REDIS_URL=redis://redis:6379/0 kfgate
#   docker run -p 8080:8080 kfgate serve --demo      (the example, public secrets)
#
# Base images are pinned by digest, so that a build today and a build next
# month start from the same bytes. To move to a newer base, look up the
# digest of the tag and replace it here (both lines), then rebuild and test:
#   docker buildx imagetools inspect golang:1.26-bookworm
#   docker buildx imagetools inspect gcr.io/distroless/static-debian12:nonroot
# (or `crane digest <image>`); the digest to use is the index's, the line
# "Digest:" at the top.
#
# Reproducible: with the same source, VERSION, REVISION and SOURCE_DATE_EPOCH
# the binary is the same byte for byte (-trimpath drops the build paths,
# -buildvcs=false the .git that .dockerignore keeps out, -buildid= the
# random build id). BuildKit also takes SOURCE_DATE_EPOCH for the layers'
# timestamps (docker buildx build --build-arg SOURCE_DATE_EPOCH=…
# --output type=image,rewrite-timestamp=true).
FROM golang:1.26-bookworm@sha256:116d58cbd88c1297624acc6e967a060012422bacf9930927e23fb719189c6f36 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY cmd ./cmd
COPY configs ./configs
COPY internal ./internal
COPY migrations ./migrations
ARG VERSION=dev
ARG REVISION=unknown
ARG SOURCE_DATE_EPOCH=0
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false \
      -ldflags "-s -w -buildid= -X main.version=${VERSION} -X main.revision=${REVISION}" \
      -o /out/kfgate ./cmd/kfgate \
 && touch -d "@${SOURCE_DATE_EPOCH}" /out/kfgate

FROM gcr.io/distroless/static-debian12:nonroot@sha256:afa5c872c891853ca7fcf1f12c3edb23f7eeef36189728842dd51042ff57f7ab
ARG VERSION=dev
ARG REVISION=unknown
ARG CREATED=1970-01-01T00:00:00Z
LABEL org.opencontainers.image.title="kfgate" \
      org.opencontainers.image.description="Routes WeChat Official Account customer-service conversations to human agents" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/kfgate/kfgate" \
      org.opencontainers.image.documentation="https://github.com/kfgate/kfgate#going-to-production" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.base.name="gcr.io/distroless/static-debian12:nonroot"
COPY --from=build /out/kfgate /usr/local/bin/kfgate
# Where kfgate looks for its configuration. Nothing is there: kfgate refuses
# to start and says how to mount a file. KFGATE_CONFIG= (empty) with
# KFGATE_… variables configures it from the environment alone.
ENV KFGATE_CONFIG=/etc/kfgate/kfgate.yaml
USER nonroot:nonroot
EXPOSE 8080
# /healthz answers while the process serves; the image has no curl, so the
# binary asks it itself.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 CMD ["/usr/local/bin/kfgate", "healthcheck"]
# SIGTERM: /readyz turns 503 for shutdown_delay (5s), then kfgate drains
# within shutdown_timeout (20s): give the container at least 30s before
# SIGKILL (docker run --stop-timeout 30; Kubernetes'
# terminationGracePeriodSeconds: 30).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/kfgate"]
CMD ["serve"]
