// The bearer tokens of API_TOKENS are the runtime's (the MCP server's HTTP transport reads the
// same format); this module keeps the approval service's imports short.
export { type ApiToken, type Identified, parseApiTokens, sha256, TokenStore } from '@countersign/runtime';
