// SPDX-License-Identifier: MIT
// ERC-721 for the reward_nft tests: the owner (the engine's sender) mints.
pragma solidity ^0.8.20;

import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

contract BMItem is ERC721, Ownable {
    constructor() ERC721("BrightMatter Test Item", "BMI") Ownable(msg.sender) {}

    function safeMint(address to, uint256 tokenId) external onlyOwner {
        _safeMint(to, tokenId);
    }
}
