# A headless client: trains on its data (or an MNIST shard) with R-Drop on the
# best backend it finds, and sends weight deltas to its coordinator (a cloud
# or an edge).
#   docker build -f docker/client.Dockerfile -t rdrop-client .
#   docker run -e FL_COORDINATOR=http://edge-1:8787 -e FL_ENROLMENT_TOKEN=... rdrop-client \
#     client --coordinator http://edge-1:8787 --mnist-shard 1/4 --token-file runs/client.json
# The arguments are a deno task and its flags. The health check asks the
# coordinator it trains with ($FL_COORDINATOR) whether it answers.
FROM denoland/deno:2.9.6
WORKDIR /app
COPY deno.json deno.lock ./
COPY shared/ shared/
COPY client/ client/
RUN deno install --frozen \
  && deno cache client/main.ts \
  && mkdir -p runs \
  && chown -R deno:deno /app
USER deno
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["deno", "eval", "const r = await fetch(Deno.env.get('FL_COORDINATOR') + '/v1/health'); Deno.exit(r.ok ? 0 : 1)"]
ENTRYPOINT ["deno", "task"]
CMD ["client", "--help"]
