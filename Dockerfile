# Locust master/worker image for docker-compose.yaml.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir .
COPY locustfiles ./locustfiles
COPY scenarios ./scenarios
