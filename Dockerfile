# syntax=docker/dockerfile:1
# fastpoll: build the wheels in one stage, install only them in a slim runtime stage.
#   docker build -t fastpoll .
#   docker run --rm fastpoll --help
ARG PYTHON_IMAGE=python:3.11-slim

# ---- build: fastpoll's wheel plus a wheel of every dependency (compiled here if one ever needs it)
FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY poller ./poller
COPY sync ./sync
COPY mibs ./mibs
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

# ---- runtime: the wheels only, installed offline; no compiler, no source tree, no pip cache
FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    FASTPOLL_METRICS__LISTEN=0.0.0.0:9877
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index /wheels/*.whl \
    && groupadd --system --gid 10001 fastpoll \
    && useradd --system --uid 10001 --gid fastpoll --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin fastpoll
COPY deploy/docker/healthcheck.py /usr/local/lib/fastpoll/healthcheck.py
USER 10001:10001
WORKDIR /tmp
EXPOSE 9877
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "/usr/local/lib/fastpoll/healthcheck.py"]
# SIGTERM starts fastpoll's graceful drain (give it time: docker stop -t 60 / stop_grace_period)
STOPSIGNAL SIGTERM
ENTRYPOINT ["fastpoll"]
CMD ["run"]
