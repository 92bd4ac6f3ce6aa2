# kubesleuth: a static binary on distroless/static, run as a non-root user, no shell.
#
#   docker build -t kubesleuth .
#
# Both base images are pinned by digest (bump them deliberately): the builder is the
# golang image Kubernetes v1.37.2 pins for its agnhost test image ("latest as of
# 2026-05-08", Go 1.26); the runtime is gcr.io/distroless/static as VictoriaLogs v1.52.2
# pins it (no shell, no package manager; a passwd with the nonroot user 65532).
FROM golang@sha256:efaccb5b497e90df3ebe5216cc25cd9f98e73874e2d638b56e38d4a3f098c41c AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# static: no cgo, nothing to link at run time
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/kubesleuth ./cmd/kubesleuth

FROM gcr.io/distroless/static@sha256:47b2d72ff90843eb8a768b5c2f89b40741843b639d065b9b937b07cd59b479c6
COPY --from=build /out/kubesleuth /kubesleuth
USER 65532:65532
EXPOSE 8443 9090
ENTRYPOINT ["/kubesleuth"]
CMD ["serve", "--help"]
