FROM python:3.12-slim

# libgomp: LightGBM's OpenMP runtime.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY setup.cfg pyproject.toml README.md ./
COPY trainhub ./trainhub
COPY workers ./workers
COPY api ./api
COPY sql ./sql
COPY celeryconfig.py ./
RUN pip install --no-cache-dir -e .

RUN useradd --system --create-home --uid 10001 trainhub \
    && mkdir -p /var/lib/trainhub/artifacts && chown -R trainhub /var/lib/trainhub
USER trainhub
ENV TRAINHUB_STATE_DIR=/var/lib/trainhub \
    TRAINHUB_ARTIFACT_DIR=/var/lib/trainhub/artifacts \
    PYTHONUNBUFFERED=1
EXPOSE 8000 5555
CMD ["trainhub", "api", "--host", "0.0.0.0", "--port", "8000"]
