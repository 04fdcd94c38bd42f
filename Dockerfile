# Builds the `portcullis` binary (rustls only, no OpenSSL) into a slim Debian image.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release -p portcullis-server --bin portcullis

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/portcullis /usr/local/bin/portcullis
COPY policies /etc/portcullis/policies
USER 65534
EXPOSE 8080
ENTRYPOINT []
CMD ["portcullis", "serve"]
