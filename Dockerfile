# The image deploy/compose.yaml builds (for users; development needs no container engine).
FROM python:3.11-slim
WORKDIR /opt/trackgw
COPY pyproject.toml README.md ./
COPY protocols protocols
COPY geofence geofence
COPY entitlements entitlements
COPY gateway gateway
RUN pip install --no-cache-dir .
USER nobody
EXPOSE 5000 5001 5013 5023 5027 5027/udp 5055 5093 8088
CMD ["trackgw", "serve"]
