# Production image: the graph alone, configured from the environment.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY graph ./graph
COPY resolvers ./resolvers
COPY sources ./sources
COPY orchestrator ./orchestrator
COPY sandbox ./sandbox
COPY bench ./bench
# The aiohttp extra: upstream calls through aiohttp's pool (RETAILGRAPH_HTTP_TRANSPORT=auto).
RUN pip wheel --no-cache-dir --wheel-dir /wheels ".[aiohttp]"

FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 \
    RETAILGRAPH_ENV=production \
    RETAILGRAPH_DATA_DIR=/var/lib/retailgraph
RUN useradd --system --home-dir /var/lib/retailgraph --create-home retailgraph
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER retailgraph
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz')"
CMD ["retailgraph", "serve", "--host", "0.0.0.0", "--port", "8000"]
