# The coordinator: serves a task and runs federated rounds.
#   docker build -f docker/coordinator.Dockerfile -t rdrop-coordinator .
#   docker run -p 8787:8787 -v $PWD/runs:/app/runs -e FL_ADMIN_TOKEN=... rdrop-coordinator
# State and checkpoints live in /app/runs/coordinator: a restarted container
# resumes the run. Without FL_ADMIN_TOKEN an admin token is generated and
# printed at the first start; an enrolment token is printed at each start.
FROM denoland/deno:2.9.6
WORKDIR /app
COPY deno.json deno.lock ./
COPY shared/ shared/
COPY coordinator/ coordinator/
COPY client/ client/
RUN deno install --frozen && deno cache coordinator/main.ts && mkdir -p runs && chown -R deno:deno /app
EXPOSE 8787
USER deno
ENTRYPOINT ["deno", "run", "--allow-read", "--allow-write", "--allow-net", "--allow-env", "--allow-sys", "coordinator/main.ts", "--host", "0.0.0.0", "--port", "8787", "--run-dir", "runs/coordinator"]
