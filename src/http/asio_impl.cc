// Compiles Boost.Asio once for the program (BOOST_ASIO_SEPARATE_COMPILATION, set on sund_http),
// with its OpenSSL layer (the server's TLS).
// Asio 1.74's headers use std::exchange without including <utility>.
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <utility>
