# syntax=docker/dockerfile:1
#
# skills-service: docker build -t skills-service:local .
#
# Both stages use the same base, pinned by tag and by the digest of its
# multi-architecture index. To move to a newer patch release, change both FROM lines
# (`docker buildx imagetools inspect python:3.11.X-slim-bookworm` prints the digest).

FROM python:3.11.14-slim-bookworm@sha256:65a93d69fa75478d554f4ad27c85c1e69fa184956261b4301ebaf6dbb0a3543d AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /build
COPY requirements/pip.txt requirements/build.txt requirements/runtime.txt requirements/
# Every download is checked against the hashes in the lock files, the build backend
# included; --only-binary keeps sdists, whose build requirements pip would fetch
# unchecked, out.
RUN python -m venv /opt/build-tools \
 && /opt/build-tools/bin/pip install --require-hashes --only-binary=:all: -r requirements/pip.txt \
 && /opt/build-tools/bin/pip install --require-hashes --only-binary=:all: -r requirements/build.txt \
 && /opt/build-tools/bin/pip wheel --require-hashes --only-binary=:all: --wheel-dir /wheels \
        -r requirements/runtime.txt
COPY pyproject.toml README.md ./
COPY src/ src/
# The application goes in as a wheel, into a venv without pip, beside exactly the
# locked wheels (--no-index, --no-deps) and nothing else.
RUN /opt/build-tools/bin/pip wheel --no-deps --no-build-isolation --wheel-dir /wheels . \
 && python -m venv --without-pip /opt/skills-service \
 && /opt/build-tools/bin/pip --python /opt/skills-service/bin/python install \
        --no-index --no-deps /wheels/*.whl \
 && /opt/build-tools/bin/pip --python /opt/skills-service/bin/python check


FROM python:3.11.14-slim-bookworm@sha256:65a93d69fa75478d554f4ad27c85c1e69fa184956261b4301ebaf6dbb0a3543d AS runtime
LABEL org.opencontainers.image.title="skills-service" \
      org.opencontainers.image.description="A security-first skills catalogue, proficiency and team gap-analysis service." \
      org.opencontainers.image.licenses="Apache-2.0"
# iputils-ping serves the administrators' diagnostics ping. Every setuid and setgid
# bit is removed: ping then uses an unprivileged ICMP socket (net.ipv4.ping_group_range),
# and nothing in the image can gain privileges. pip, setuptools and wheel are not
# needed at run time.
RUN apt-get update \
 && apt-get install --yes --no-install-recommends iputils-ping=3:20221126-1+deb12u1 \
 && rm -rf /var/lib/apt/lists/* \
 && python -m pip uninstall --yes --quiet pip setuptools wheel \
 && find / -xdev -type f -perm /6000 -exec chmod a-s {} + \
 && groupadd --system --gid 10001 skills \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin skills \
 && install -d -o 10001 -g 10001 -m 0700 /var/lib/skills-service
COPY --from=build /opt/skills-service /opt/skills-service
# The root filesystem may be read-only: the code is compiled at install time, gunicorn
# and the metrics keep their files under /tmp (a tmpfs), and the instance path is
# only written with SQLite, on a volume mounted there.
ENV PATH=/opt/skills-service/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SKILLS_ENV=production \
    SKILLS_INSTANCE_PATH=/var/lib/skills-service
WORKDIR /opt/skills-service
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
ENTRYPOINT ["skills-service"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
