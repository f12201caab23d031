// conveyor-keygen NAME: writes NAME.key and NAME.pub. All logic lives in the library.
#include <iostream>

#include "conveyor/common/cli.hpp"
#include "conveyor/keygen/keygen.hpp"

int main(int argc, char** argv) {
  using namespace conveyor;
  CLI::App app{
      "conveyor-keygen: writes a CurveZMQ keypair for --curve: NAME.key (the secret key, mode "
      "0600; give it to --curve-secret-key-file) and NAME.pub (the public key: the broker's goes "
      "to --broker-public-key, a client's into --producer-keys or --consumer-keys). Never "
      "overwrites an existing file.",
      "conveyor-keygen"};
  std::string name;
  app.add_option("NAME", name, "path and name of the pair, without extension")->required();
  if (auto status = parse_command_line(app, argc, argv)) return *status;
  auto written = keygen::write_keypair(name);
  if (!written) {
    print_error("conveyor-keygen", written.error());
    return 1;
  }
  std::cout << "wrote " << written->secret_path << " (secret) and " << written->public_path
            << " (public key " << written->public_key << ")\n";
  return 0;
}
