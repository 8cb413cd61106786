FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY config ./config
RUN pip install --no-cache-dir .
# A fixed uid and gid, so that certificate keys can be given to this user on the host:
#   sudo oadr-gateway certs init certs --owner 10001:10001
RUN groupadd --system --gid 10001 gateway \
    && useradd --system --uid 10001 --gid 10001 --home /var/lib/oadr-gateway gateway \
    && mkdir -p /var/lib/oadr-gateway && chown gateway:gateway /var/lib/oadr-gateway
USER 10001:10001
ENV GATEWAY_DATA_DIR=/var/lib/oadr-gateway GATEWAY_HTTP_HOST=0.0.0.0
EXPOSE 8080 8443
CMD ["oadr-gateway", "run"]
