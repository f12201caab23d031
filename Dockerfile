# Conveyor in a container: one image, three roles.
#   docker build -t conveyor .                 (or: podman build -t conveyor .)
#   docker run --rm conveyor conveyor-consumer --help
# The build stage compiles and runs the unit tests; the runtime stage holds the executables and
# their shared libraries, python3 with the Python package `conveyor` (for `pipe:` handlers) and
# examples/python in /opt/conveyor/examples/python, and runs as the unprivileged user "conveyor"
# (uid 10001).

FROM docker.io/library/debian:bookworm AS build
WORKDIR /src
# Dependencies first, in their own layer: it is rebuilt only when install-deps.sh changes.
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN scripts/install-deps.sh && rm -rf /var/lib/apt/lists/*
# Only what the build reads, folder by folder (a new top-level folder that the build needs goes
# here): examples/ and bench/ are not built, and leaving them out keeps an edit of
# examples/python from invalidating the compiled layers below (the runtime stage copies it).
COPY CMakeLists.txt ./
COPY cmake cmake
COPY proto proto
COPY common common
COPY metrics metrics
COPY status status
COPY broker broker
COPY producer producer
COPY consumer consumer
COPY ctl ctl
COPY keygen keygen
COPY clients clients
COPY scripts scripts
COPY tests tests
# The project's usual -O2 (RelWithDebInfo) without the debug info, which would only be stripped.
# No benchmarks or examples. Only what is installed and the unit tests are built, and only the
# unit tests run here (the socket tests need more than a build): the integration and multi-host
# executables took the image build on a 2-core machine past the compose test's deadline.
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -DNDEBUG" \
      -DCONVEYOR_BUILD_BENCH=OFF -DCONVEYOR_BUILD_EXAMPLES=OFF -DCONVEYOR_BUILD_TESTS=ON \
 && cmake --build /build --target \
      conveyor-broker conveyor-producer conveyor-consumer conveyor-ctl conveyor-keygen \
      conveyor_proto conveyor_common conveyor_runtime conveyor_metrics \
      conveyor_producer_core conveyor_producer conveyor_consumer_core conveyor_consumer \
      conveyor_unit_tests conveyor_fuzz_replay
RUN ctest --test-dir /build -L unit --output-on-failure -j"$(nproc)"
RUN cmake --install /build --prefix /opt/conveyor --strip

FROM docker.io/library/debian:bookworm-slim AS runtime
# The shared libraries the executables link (see `ldd`), and python3 for `pipe:` handlers written
# with the Python package; everything else is in the base image.
RUN apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      libzmq5 libprotobuf32 libspdlog1.10 libfmt9 libssl3 libprometheus-cpp-pull1.0 python3 \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/*
# A fixed uid, so that a bind-mounted data directory can be made writable for it (chown 10001).
RUN groupadd --gid 10001 conveyor \
 && useradd --uid 10001 --gid conveyor --create-home --home-dir /home/conveyor \
      --shell /usr/sbin/nologin conveyor \
 && install -d -o conveyor -g conveyor -m 0755 /data
COPY --from=build /opt/conveyor/bin/conveyor-broker /opt/conveyor/bin/conveyor-producer \
     /opt/conveyor/bin/conveyor-consumer /opt/conveyor/bin/conveyor-ctl \
     /opt/conveyor/bin/conveyor-keygen /usr/local/bin/
# Fails the build if a runtime library is missing.
RUN for exe in conveyor-broker conveyor-producer conveyor-consumer conveyor-ctl conveyor-keygen; do \
      "$exe" --help >/dev/null || exit 1; \
    done
# The Python package where `cmake --install` put it (PREFIX/lib/python3/dist-packages), found by
# python3 through a .pth file in its site directory: no PYTHONPATH to keep, whatever a handler sets.
COPY --from=build /opt/conveyor/lib/python3/dist-packages/conveyor \
     /opt/conveyor/lib/python3/dist-packages/conveyor
RUN site=$(python3 -c 'import site; print(site.getsitepackages()[0])') \
 && mkdir -p "$site" \
 && echo /opt/conveyor/lib/python3/dist-packages > "$site/conveyor.pth"
# Last, from the build context: editing the examples rebuilds only this layer and the check below.
COPY examples/python /opt/conveyor/examples/python
USER 10001:10001
# Fails the build if the package or the examples cannot be imported as the image's user.
RUN python3 -c 'import conveyor.worker, conveyor.producer' \
 && python3 /opt/conveyor/examples/python/crawl.py --help >/dev/null \
 && python3 /opt/conveyor/examples/python/make_pages.py --help >/dev/null
WORKDIR /data
EXPOSE 5555 5556
# The same image serves every role: the command picks it (conveyor-producer, conveyor-consumer).
# Each flag can also be set as CONVEYOR_<FLAG>; signals are handled (a consumer drains on
# SIGTERM), also as PID 1.
CMD ["conveyor-broker"]
