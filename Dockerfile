# One image for the services; SERVICE picks which one runs. TypeScript runs with tsx
# (the workspace has no build step). The policy bundle is built by the opa stage, never
# committed.
FROM openpolicyagent/opa:1.22.2-static AS policy
COPY policies /policies
RUN ["/opa", "build", "-t", "wasm", "-e", "countersign/decision/result", "-e", "countersign/authorize/result", \
     "--ignore", "*_test.rego", "-o", "/bundle.tar.gz", "/policies"]

FROM node:20-bookworm-slim AS app
ENV PNPM_HOME=/pnpm PATH=/pnpm:$PATH
RUN npm install -g pnpm@10.34.8
WORKDIR /app
COPY pnpm-lock.yaml pnpm-workspace.yaml package.json ./
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
# tsx is a dev dependency of the workspace and is the runtime here, so install everything.
RUN pnpm install --frozen-lockfile
COPY . .
ENV NODE_ENV=production
COPY --from=policy /bundle.tar.gz /app/policy-bundle.tar.gz
ENV POLICY_BUNDLE=/app/policy-bundle.tar.gz
USER node
ARG SERVICE=approval
ENV SERVICE=${SERVICE}
CMD ["sh", "-c", "exec node --import tsx services/${SERVICE}/src/main.ts"]
