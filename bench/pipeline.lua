-- wrk script: send DEPTH GET /hello requests back to back on each connection write.
local depth = tonumber(os.getenv("DEPTH") or "16")
local req
init = function(args)
    local r = {}
    for i = 1, depth do
        r[i] = wrk.format("GET", "/hello")
    end
    req = table.concat(r)
end
request = function()
    return req
end
