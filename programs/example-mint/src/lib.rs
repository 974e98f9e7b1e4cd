use anchor_lang::prelude::*;
