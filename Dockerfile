# syntax=docker/dockerfile:1
#
# One image, three roles chosen by the command:
#   docker run IMAGE                    API + UI   (mlops serve, the default)
#   docker run IMAGE run [key=value…]   pipeline   (mlops run)
#   docker run IMAGE sweep agent …      sweep agent (mlops sweep agent)
#
# The binary is static (CGO_ENABLED=0), so the final stage is scratch plus
# CA certificates and a passwd entry for the non-root user: ~the binary's size.

ARG GO_VERSION=1.26.8

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
# Modules first: this layer is reused until go.mod or go.sum change.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG TARGETOS=linux
ARG TARGETARCH=amd64
# The same command `make build` and cmd/mlops/build_test.go run.
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags "-s -w" -o /out/mlops ./cmd/mlops
# What scratch lacks: a user (65532, as distroless "nonroot"), a writable
# home for MLOPS_HOME, and a sticky /tmp.
RUN mkdir -p /out/home/mlops/.mlops /out/tmp \
 && chown -R 65532:65532 /out/home/mlops \
 && chmod 1777 /out/tmp \
 && echo 'mlops:x:65532:65532:mlops:/home/mlops:/sbin/nologin' > /out/passwd \
 && echo 'mlops:x:65532:' > /out/group

FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/passwd /etc/passwd
COPY --from=build /out/group /etc/group
COPY --from=build /out/tmp /tmp
COPY --from=build --chown=65532:65532 /out/home/mlops /home/mlops
COPY --from=build /out/mlops /mlops
COPY --from=build /src/config.yaml /home/mlops/config.yaml

USER 65532:65532
WORKDIR /home/mlops
# PORT is honoured by serve (listens on :PORT) and by health (probes it).
ENV PORT=8080 \
    MLOPS_HOME=/home/mlops/.mlops
EXPOSE 8080
# The binary is its own probe: no shell or curl in the image. Without --url,
# `mlops health` probes http://127.0.0.1:$PORT/health.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/mlops", "health", "-q", "--timeout", "4s"]
ENTRYPOINT ["/mlops"]
CMD ["serve"]
