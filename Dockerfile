# The modelops image: the operator (`modelops run`, the default) and the rate-limit gateway
# sidecar (`modelops gateway ...`) are the same package, so one image serves both.
#
#   docker build -t modelops:0.1.0 .        (no Docker engine on the CI machines: see README)
#
# Stage 1 installs the package and its dependencies into a virtual environment (every
# dependency ships wheels) and compiles the gateway's modules with mypyc (setup.py: about 40%
# fewer instructions per proxied request), which needs a C compiler and Python's headers: the
# full image of the same Python has both. Nothing of the compiler, pip, mypy or the sources
# reaches the final stage, which holds only that environment and the Python runtime.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG BUILD_IMAGE=python:3.11-bookworm

FROM ${BUILD_IMAGE} AS build
# Where TLS is re-signed, pip must trust that CA: hack/build-images.sh bind-mounts the host's
# bundle read-only for RUN and names it here. A build argument of this stage only: it never
# reaches the final image (and unset, pip keeps its own bundle).
ARG PIP_CERT
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ONLY_BINARY=:all:
WORKDIR /src
# The dependencies first, read from pyproject.toml, in a layer of their own: a builder with a
# layer cache (docker, buildah --layers) reuses it when only the sources changed.
COPY pyproject.toml ./
RUN python -m venv /opt/modelops \
    && python -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"], sep="\n")' >/tmp/requirements.txt \
    && /opt/modelops/bin/pip install -r /tmp/requirements.txt
# The build's tools go into a copy of that environment, since mypy must see the dependencies'
# types; the copy stays in this stage.
RUN cp -a /opt/modelops /opt/build \
    && /opt/build/bin/python -m pip install "mypy>=1.11" types-PyYAML "setuptools>=69" wheel
COPY README.md setup.py ./
COPY operator ./operator
# Not editable: the package's wheel, gateway compiled, is installed into the environment (and
# its bytecode compiled there, since the final root filesystem is read-only). The last line
# fails the build if the gateway was not compiled.
RUN MODELOPS_COMPILE=1 /opt/build/bin/python -m pip wheel --no-deps --no-build-isolation \
        --no-binary=modelops-operator -w /tmp/wheel . \
    && /opt/modelops/bin/pip install --no-deps /tmp/wheel/*.whl \
    && /opt/modelops/bin/python -m compileall -q /opt/modelops/lib \
    && /opt/modelops/bin/python -c 'import modelops.gateway.server as m, sys; sys.exit(not m.__file__.endswith(".so"))'

FROM ${PYTHON_IMAGE}
ENV PATH=/opt/modelops/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
# A fixed numeric user, so that `runAsNonRoot` can verify it without a name lookup.
RUN groupadd --system --gid 10001 modelops \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin modelops
COPY --from=build /opt/modelops /opt/modelops
USER 10001:10001
EXPOSE 8080
# No HEALTHCHECK: Kubernetes probes /healthz (operator) and the gateway's health endpoints.
ENTRYPOINT ["modelops"]
CMD ["run"]
