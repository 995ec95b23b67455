"""rpc-gateway: XML-RPC and JSON-RPC on one port, from one service instance."""

__version__ = "0.1.0"

from gateway.config import Config, ConfigError, load_config  # noqa: E402
from gateway.server import GatewayServer  # noqa: E402

__all__ = ["Config", "ConfigError", "GatewayServer", "load_config", "__version__"]
