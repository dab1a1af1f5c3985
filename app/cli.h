/* kinora-cli subcommands. */
#pragma once

int kinora_cli_tokenize (int argc, char **argv);
int kinora_cli_generate (int argc, char **argv);
int kinora_cli_models (int argc, char **argv);
int kinora_cli_queue (int argc, char **argv);
