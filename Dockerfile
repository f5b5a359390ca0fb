# kfgate: a static binary on a distroless base, running as non-root.
#   docker build --build-arg VERSION=$(git describe --always) -t kfgate .
#   docker run -p 8080:8080 -e KFGATE_REDIS_URL=redis://redis:6379/0 \
#     -v $PWD/kfgate.yaml:/etc/kfgate/kfgate.yaml:ro kfgate
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY cmd ./cmd
COPY internal ./internal
COPY migrations ./migrations
COPY configs ./configs
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/kfgate ./cmd/kfgate

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/kfgate /usr/local/bin/kfgate
# The example configuration runs on the embedded Redis; mount your own
# file over it, or override keys with KFGATE_… variables.
COPY configs/kfgate.example.yaml /etc/kfgate/kfgate.yaml
ENV KFGATE_CONFIG=/etc/kfgate/kfgate.yaml
USER nonroot:nonroot
EXPOSE 8080
# /healthz answers while the process serves; the image has no curl, so the
# binary asks it itself.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 CMD ["/usr/local/bin/kfgate", "healthcheck"]
# SIGTERM starts a graceful shutdown (shutdown_timeout, default 20s):
# give the container at least that long before SIGKILL.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/kfgate"]
CMD ["serve"]
