# One image for the services; SERVICE picks which one runs. Three stages: the policy bundle
# (opa), the build (every dependency, `pnpm build`, then `pnpm deploy --prod` per service), and
# the image itself, which holds only the compiled services with their production dependencies:
# no TypeScript sources, no tsx, no dev dependencies, run as the unprivileged `node` user.
# test/compiled-services.test.ts lays the services out the same way and runs an approval
# through them; test/dockerfile.test.ts checks this file's shape.
FROM openpolicyagent/opa:1.22.2-static AS policy
COPY policies /policies
RUN ["/opa", "build", "-t", "wasm", "-e", "countersign/decision/result", "-e", "countersign/authorize/result", \
     "--ignore", "*_test.rego", "-o", "/bundle.tar.gz", "/policies"]

# Node 26 is the current LTS; the services also run on Node 20 (engines: >=20.19).
FROM node:26-trixie-slim AS build
ENV PNPM_HOME=/pnpm PATH=/pnpm:$PATH
RUN npm install -g pnpm@10.34.8
WORKDIR /src
COPY pnpm-lock.yaml pnpm-workspace.yaml package.json ./
# Fixes to dependencies, applied by pnpm install (package.json pnpm.patchedDependencies).
COPY patches patches/
COPY packages/contracts/package.json packages/contracts/
COPY packages/client/package.json packages/client/
COPY packages/runtime/package.json packages/runtime/
COPY packages/devinfra/package.json packages/devinfra/
COPY packages/test-fixtures/package.json packages/test-fixtures/
COPY services/policy/package.json services/policy/
COPY services/approval/package.json services/approval/
COPY services/notifier/package.json services/notifier/
COPY services/mcp/package.json services/mcp/
COPY test/package.json test/
COPY examples/package.json examples/
COPY bench/package.json bench/
# Everything, for the build (tsc and the types are dev dependencies); none of it is shipped.
RUN pnpm install --frozen-lockfile
COPY . .
RUN pnpm build
# Each service with its production dependencies only, the workspace packages copied in as their
# package.json `files` list them (dist/, migrations/): the layout the image runs.
RUN for service in policy approval notifier mcp; do \
      pnpm --filter "./services/${service}" deploy --prod --legacy "/app/services/${service}" || exit 1; \
    done

FROM node:26-trixie-slim
# Workspace packages export their TypeScript sources by default (the dev run and the tests run
# them with tsx); the condition makes every `node` in the image resolve their compiled dist/.
# The heap limits keep each service's memory near its live data: V8's defaults size the young
# generation and let the old one fill with garbage for the whole machine's memory, which is
# what made a service's RSS 150-220 MB under load (docs/benchmarks.md, memory).
ENV NODE_ENV=production NODE_OPTIONS="--conditions=countersign-dist --max-semi-space-size=4 --max-old-space-size=96"
WORKDIR /app
# Owned by root and read-only to the user the services run as.
COPY --from=build /app /app
COPY --from=policy /bundle.tar.gz /app/policy-bundle.tar.gz
ENV POLICY_BUNDLE=/app/policy-bundle.tar.gz
USER node
ARG SERVICE=approval
ENV SERVICE=${SERVICE}
CMD ["sh", "-c", "exec node services/${SERVICE}/dist/main.js"]
