// Compiles Boost.Beast once for the program (BOOST_BEAST_SEPARATE_COMPILATION, set on sund_http).
// Asio 1.74's headers use std::exchange without including <utility>.
#include <boost/beast/src.hpp>
#include <utility>
