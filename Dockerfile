# Conveyor in a container: one image, three roles.
#   docker build -t conveyor .                 (or: podman build -t conveyor .)
#   docker run --rm conveyor conveyor-consumer --help
# The build stage compiles and runs the unit tests; the runtime stage holds only the three
# executables and their shared libraries, and runs as the unprivileged user "conveyor" (uid 10001).

FROM docker.io/library/debian:bookworm AS build
WORKDIR /src
# Dependencies first, in their own layer: it is rebuilt only when install-deps.sh changes.
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN scripts/install-deps.sh && rm -rf /var/lib/apt/lists/*
COPY . .
# The project's usual -O2 (RelWithDebInfo) without the debug info, which would only be stripped.
# No benchmarks or examples. Every test executable is built (whatever folder holds unit tests),
# but only the unit tests run here: the socket tests need more than a build.
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -DNDEBUG" \
      -DCONVEYOR_BUILD_BENCH=OFF -DCONVEYOR_BUILD_EXAMPLES=OFF -DCONVEYOR_BUILD_TESTS=ON \
 && cmake --build /build
RUN ctest --test-dir /build -L unit --output-on-failure -j"$(nproc)"
RUN cmake --install /build --prefix /opt/conveyor --strip

FROM docker.io/library/debian:bookworm-slim AS runtime
# The shared libraries the executables link (see `ldd`); everything else is in the base image.
RUN apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      libzmq5 libprotobuf32 libspdlog1.10 libfmt9 libssl3 libprometheus-cpp-pull1.0 \
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
USER 10001:10001
WORKDIR /data
EXPOSE 5555 5556
# The same image serves every role: the command picks it (conveyor-producer, conveyor-consumer).
# Each flag can also be set as CONVEYOR_<FLAG>; signals are handled (a consumer drains on
# SIGTERM), also as PID 1.
CMD ["conveyor-broker"]
