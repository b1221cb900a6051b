-- wrk script: each wrk thread is one commenter with its own post and form token, posting comment after
-- comment. Arguments after "--": for each thread, the form's address and its CSRF token.
local threads = {}
local next_number = 0

function setup(thread)
  thread:set("number", next_number)
  next_number = next_number + 1
  table.insert(threads, thread)
end

function init(args)
  path = args[number * 2 + 1]
  token = args[number * 2 + 2]
  sent = 0
  acknowledged = 0
end

function request()
  sent = sent + 1
  local body = "csrf_token=" .. token .. "&name=Poster+" .. number .. "&body=Benchmark+comment+" .. number .. "-" .. sent
  return wrk.format("POST", path, {["Content-Type"] = "application/x-www-form-urlencoded"}, body)
end

function response(status, headers, body)
  if status == 303 then
    acknowledged = acknowledged + 1
  end
end

function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do
    total = total + thread:get("acknowledged")
  end
  io.write("acknowledged " .. total .. "\n")
end
