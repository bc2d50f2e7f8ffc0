# t2-companion in a container: the virtual environment is built in one stage and copied into a slim one, which runs
# as a non-root user with its data (the SQLite file, when no DATABASE_URL is given) in the /data volume.
#
#   docker build -t t2-companion .
#   docker run -it --rm -v t2-data:/data t2-companion console
#   docker run -d --name t2 -e DISCORD_TOKEN=... -v t2-data:/data t2-companion
#   docker run --rm -v t2-data:/data t2-companion migrate-data \
#       --from sqlite:////data/t2-companion.db --to postgresql://t2:PASSWORD@db-host/t2

ARG PYTHON_VERSION=3.12

FROM python:${PYTHON_VERSION}-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/t2-companion
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot bot
COPY db db
COPY migrations migrations
COPY personas personas
RUN /opt/t2-companion/bin/pip install ".[postgres]"
# Build the understanding model into the image, so that no container spends its first start building it.
ENV T2_CACHE_DIR=/opt/t2-companion/model
RUN /opt/t2-companion/bin/python -c "from personas.factbase import load_fact_base; \
from personas.roster import PERSONAS; \
from personas.understanding.model import load_model; \
load_model(load_fact_base(), PERSONAS)"

FROM python:${PYTHON_VERSION}-slim
RUN groupadd --system --gid 10001 t2 \
    && useradd --system --uid 10001 --gid t2 --home-dir /data --no-create-home --shell /usr/sbin/nologin t2 \
    && mkdir /data \
    && chown t2:t2 /data
COPY --from=build /opt/t2-companion /opt/t2-companion
ENV PATH=/opt/t2-companion/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    T2_CACHE_DIR=/opt/t2-companion/model \
    DATABASE_URL=sqlite+aiosqlite:////data/t2-companion.db
VOLUME /data
WORKDIR /data
USER t2:t2
# SIGTERM (docker stop) pauses running games and closes the database before the process ends.
STOPSIGNAL SIGTERM
ENTRYPOINT ["python", "-m", "bot"]
CMD ["run"]
