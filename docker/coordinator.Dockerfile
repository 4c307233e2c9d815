# The coordinator, as the cloud or (with --upstream) as an edge.
#   docker build -f docker/coordinator.Dockerfile -t rdrop-coordinator .
#   docker run -p 8787:8787 -v $PWD/runs:/app/runs -e FL_ADMIN_TOKEN=... rdrop-coordinator
#   docker run ... rdrop-coordinator coordinator --host 0.0.0.0 --port 8787 \
#     --run-dir runs/edge --upstream http://cloud:8787 --upstream-enrolment-token ...
# The arguments are a deno task and its flags. State and checkpoints live in
# /app/runs: a restarted container resumes the run. Without FL_ADMIN_TOKEN an
# admin token is generated and printed at the first start.
FROM denoland/deno:2.9.6
WORKDIR /app
COPY deno.json deno.lock ./
COPY shared/ shared/
COPY coordinator/ coordinator/
COPY client/ client/
RUN deno install --frozen \
  && deno task build-web \
  && deno cache coordinator/main.ts \
  && mkdir -p runs \
  && chown -R deno:deno /app
USER deno
EXPOSE 8787
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["deno", "eval", "const r = await fetch('http://127.0.0.1:8787/v1/health'); Deno.exit(r.ok ? 0 : 1)"]
ENTRYPOINT ["deno", "task"]
CMD ["coordinator", "--host", "0.0.0.0", "--port", "8787", "--run-dir", "runs/coordinator"]
