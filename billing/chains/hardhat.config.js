// Hardhat 2 config for the local EVM node some tests start (`hardhat node`); nothing is compiled here.
module.exports = {
  networks: { hardhat: { chainId: 31337 } },
};
