FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY config ./config
RUN pip install --no-cache-dir .
RUN useradd --system --home /var/lib/oadr-gateway gateway \
    && mkdir -p /var/lib/oadr-gateway && chown gateway /var/lib/oadr-gateway
USER gateway
ENV GATEWAY_DATA_DIR=/var/lib/oadr-gateway GATEWAY_HTTP_HOST=0.0.0.0
EXPOSE 8080
CMD ["oadr-gateway", "run"]
