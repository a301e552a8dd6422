"""Improvement actions: what the partners will change, from the rapid review's immediate
actions and the review's recommendations, monitored until each is done."""
