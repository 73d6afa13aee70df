// Compiles TestUSDC.sol with the npm package solc (evmVersion paris) and prints {abi, bytecode} as JSON.
// Usage: node billing/chains/contracts/compile.js > billing/chains/contracts/TestUSDC.json
const fs = require("fs");
const path = require("path");
const solc = require("solc");

const source = fs.readFileSync(path.join(__dirname, "TestUSDC.sol"), "utf8");
const input = {
  language: "Solidity",
  sources: { "TestUSDC.sol": { content: source } },
  settings: {
    evmVersion: "paris",
    optimizer: { enabled: true, runs: 200 },
    // No metadata hash: the bytecode then depends only on the source and these settings.
    metadata: { bytecodeHash: "none" },
    outputSelection: { "*": { "*": ["abi", "evm.bytecode.object"] } },
  },
};
const output = JSON.parse(solc.compile(JSON.stringify(input)));
const errors = (output.errors || []).filter((e) => e.severity === "error");
if (errors.length) {
  process.stderr.write(errors.map((e) => e.formattedMessage).join("\n"));
  process.exit(1);
}
const contract = output.contracts["TestUSDC.sol"].TestUSDC;
const artifact = {
  contractName: "TestUSDC",
  compiler: "solc " + solc.version(),
  evmVersion: "paris",
  abi: contract.abi,
  bytecode: "0x" + contract.evm.bytecode.object,
};
process.stdout.write(JSON.stringify(artifact, null, 2) + "\n");
