// SPDX-License-Identifier: MIT
// ERC-20 for the reward_token tests: the deployer holds the whole supply.
pragma solidity ^0.8.20;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

contract BMToken is ERC20 {
    constructor(uint256 supply) ERC20("BrightMatter Test Token", "BMT") {
        _mint(msg.sender, supply);
    }
}
